"""The networks. Every model here takes the contract's input, pixels in [0, 1] shaped [N, 1, 28, 28],
and returns logits [N, 10]: the MNIST normalization is the model's first layer, so the trained module,
the exported graph and the service all agree on one input.
"""

from __future__ import annotations

from torch import Tensor, nn

from contract import IMAGE_SIZE, MNIST_MEAN, MNIST_STD, NUM_CLASSES

ARCHITECTURES = ("cnn", "linear")


class Normalize(nn.Module):
    """(x - MNIST_MEAN) / MNIST_STD, with the constants baked into the graph."""

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


def conv_bn(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def cnn(width: int = 32) -> nn.Sequential:
    """A small VGG-style CNN: two conv-BN-ReLU blocks per resolution (28, 14, 7), then global average
    pooling and one linear layer. Its size grows with ``width`` squared: ``count_parameters`` gives the
    exact figure, and the model card states the one each run computed."""
    w = width
    return nn.Sequential(
        Normalize(),
        *conv_bn(1, w // 2),
        *conv_bn(w // 2, w),
        nn.MaxPool2d(2),  # 14x14
        *conv_bn(w, w),
        *conv_bn(w, 2 * w),
        nn.MaxPool2d(2),  # 7x7
        *conv_bn(2 * w, 2 * w),
        *conv_bn(2 * w, 2 * w),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * w, NUM_CLASSES),
    )


def linear() -> nn.Sequential:
    """The lesson's model: multinomial logistic regression on the 784 pixels."""
    return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(IMAGE_SIZE * IMAGE_SIZE, NUM_CLASSES))


def build(architecture: str, width: int = 32) -> nn.Sequential:
    if architecture == "cnn":
        return cnn(width)
    if architecture == "linear":
        return linear()
    raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
