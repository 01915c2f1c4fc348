"""The served network: trained CNNs averaged, a temperature, and a "looks like a digit" head, in one
module that exports to one ONNX graph.

- probabilities = softmax(log(mean_k softmax(z_k)) / T): the members' probabilities averaged, then
  sharpened or softened by one temperature T fitted on validation (``fit_temperature``).
- digit_score = sigmoid(head(features)) where the features are the members' last feature maps,
  averaged and maximized over the image per channel, and the averaged log-probabilities before the
  temperature (so the head does not depend on T). The head is a small MLP fitted with SGD on digits
  (MNIST training images, printed digits) against synthetic non-digits (``training.negatives``) while
  the CNNs stay frozen; its bias is shifted so that the threshold chosen on validation sits at 0.5
  (``contract.DIGIT_SCORE_THRESHOLD``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from training.train import to_tensor


class DigitHead(nn.Module):
    """Standardize the features (constants from the training features), then a one-hidden-layer MLP."""

    def __init__(self, mean: Tensor, std: Tensor, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.mlp = nn.Sequential(nn.Linear(len(mean), hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, features: Tensor) -> Tensor:
        return self.mlp((features - self.mean) / self.std).squeeze(1)


class Ensemble(nn.Module):
    """image [N,1,28,28] in [0,1] -> (probabilities [N,10], digit_score [N,1]) or probabilities only."""

    def __init__(self, members: list[nn.Sequential], temperature: float = 1.0) -> None:
        super().__init__()
        # A CNN member ends in global average pooling, Flatten, Linear: keep its last feature map (the
        # head reads its average and its maximum per channel), pool it as the member did, classify.
        # Any other member (the linear model): everything before the last layer is its features.
        self.pool_maps = all(
            isinstance(m[-3], nn.AdaptiveAvgPool2d) and isinstance(m[-2], nn.Flatten) for m in members
        )
        cut = -3 if self.pool_maps else -1
        self.bodies = nn.ModuleList([member[:cut] for member in members])
        self.classifiers = nn.ModuleList([member[-1] for member in members])
        self.register_buffer("inverse_temperature", torch.tensor(1.0 / temperature))
        self.head: DigitHead | None = None

    @property
    def temperature(self) -> float:
        return float(1.0 / self.inverse_temperature)

    def set_temperature(self, temperature: float) -> None:
        self.inverse_temperature.fill_(1.0 / temperature)

    def parts(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """(calibrated log-probabilities [N,10], head features [N,F])."""
        outs = [body(image) for body in self.bodies]
        pooled = [x.mean(dim=(2, 3)) for x in outs] if self.pool_maps else outs
        peaks = [x.amax(dim=(2, 3)) for x in outs] if self.pool_maps else []
        log_probs = torch.stack(
            [F.log_softmax(classify(x), dim=1) for classify, x in zip(self.classifiers, pooled, strict=True)]
        )
        averaged = torch.logsumexp(log_probs, dim=0) - math.log(len(self.bodies))
        calibrated = F.log_softmax(averaged * self.inverse_temperature, dim=1)
        return calibrated, torch.cat([*pooled, *peaks, averaged], dim=1)

    def forward(self, image: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        calibrated, features = self.parts(image)
        probabilities = calibrated.exp()
        if self.head is None:
            return probabilities
        return probabilities, torch.sigmoid(self.head(features)).unsqueeze(1)


@torch.no_grad()
def compute(ensemble: Ensemble, images: np.ndarray, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(log-probabilities at the ensemble's current temperature, head features) on uint8 images."""
    ensemble.eval()
    outs = [ensemble.parts(to_tensor(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat([o[0] for o in outs]).numpy(), torch.cat([o[1] for o in outs]).numpy()


def nll(log_probs: np.ndarray, labels: np.ndarray, inverse_temperature: float) -> float:
    scaled = log_probs.astype(np.float64) * inverse_temperature
    scaled -= scaled.max(1, keepdims=True)
    log_z = np.log(np.exp(scaled).sum(1))
    return float(np.mean(log_z - scaled[np.arange(len(labels)), labels]))


def fit_temperature(log_probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimizing validation cross-entropy of softmax(log_probs / T): a grid over
    log T in [-2, 2], then a finer grid around the best point (one parameter: no optimizer needed)."""
    grid = np.linspace(-2.0, 2.0, 201)
    best = grid[np.argmin([nll(log_probs, labels, math.exp(-g)) for g in grid])]
    fine = np.linspace(best - 0.02, best + 0.02, 81)
    best = fine[np.argmin([nll(log_probs, labels, math.exp(-g)) for g in fine])]
    return float(math.exp(best))


def softmax(log_probs: np.ndarray, inverse_temperature: float = 1.0) -> np.ndarray:
    scaled = log_probs.astype(np.float64) * inverse_temperature
    scaled -= scaled.max(1, keepdims=True)
    e = np.exp(scaled)
    return e / e.sum(1, keepdims=True)


ECE_BINS = 15


@dataclass
class Reliability:
    """Confidence-binned accuracy: the reliability diagram and its expected calibration error."""

    ece: float
    bin_confidence: list[float | None]
    bin_accuracy: list[float | None]
    bin_count: list[int]


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """ECE = sum over equal-width confidence bins of |accuracy - confidence| x share of images."""
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    conf, acc, count, ece = [], [], [], 0.0
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        count.append(n)
        conf.append(float(confidence[mask].mean()) if n else None)  # None: an empty bin (JSON null)
        acc.append(float(correct[mask].mean()) if n else None)
        if n:
            ece += abs(acc[-1] - conf[-1]) * n / len(labels)
    return Reliability(float(ece), conf, acc, count)


@dataclass
class HeadFit:
    head: DigitHead
    threshold_logit: float  # the raw head output at the chosen threshold (folded into the bias)
    history: list[float]  # training loss per epoch


def fit_head(
    positives: np.ndarray,
    negatives: np.ndarray,
    val_digits: np.ndarray,
    *,
    hidden: int,
    epochs: int,
    lr: float,
    seed: int,
    digit_quantile: float,
) -> HeadFit:
    """Fit the head with SGD (Nesterov momentum, cosine schedule, balanced classes) on frozen features,
    then fold into its bias the threshold that flags ``digit_quantile`` of the validation digits."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.concatenate([positives, negatives])).float()
    y = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))])
    weight = torch.where(y == 1, len(y) / (2 * len(positives)), len(y) / (2 * len(negatives)))
    std = x.std(0).clamp_min(1e-3)
    head = DigitHead(x.mean(0), std, hidden)
    optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    batch = 256
    steps = epochs * math.ceil(len(y) / batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            loss = F.binary_cross_entropy_with_logits(head(x[idx]), y[idx], weight=weight[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        history.append(total / len(y))
    head.eval()
    with torch.no_grad():
        raw = head(torch.from_numpy(val_digits).float()).numpy()
        threshold = float(np.quantile(raw, digit_quantile))
        head.mlp[-1].bias -= threshold
    return HeadFit(head, threshold, history)
