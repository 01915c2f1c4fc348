"""The SGD loop: shuffled mini-batches, one-cycle learning rate, batched random-affine augmentation,
validation after every epoch, and the weights of the best validation epoch kept (with ``--refit``, which
trains on validation too: the last epoch's).

The test set never enters here: choosing the epoch (and anything else) uses the validation split only.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
from torch import Tensor, nn
from tqdm import tqdm

from contract import PIXEL_MAX
from training.config import ConfigError, TrainConfig
from training.data import Split, concat
from training.models import build


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass
class TrainResult:
    model: nn.Module  # in eval mode, holding the best epoch's weights
    history: list[EpochStats]
    best_epoch: int
    seconds: float
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> EpochStats:
        return self.history[self.best_epoch - 1]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_tensor(images: np.ndarray) -> Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [0, 1] (the contract's input)."""
    return torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1).float().div_(PIXEL_MAX)


def random_affine(x: Tensor, config: TrainConfig, generator: torch.Generator) -> Tensor:
    """A different random rotation, zoom, shear and shift for every image of the batch, in one
    ``grid_sample`` call (bilinear, black outside). The random numbers come from ``generator`` on the
    CPU whatever the device, so a seed draws the same maps on a GPU."""
    n = x.shape[0]

    def uniform(limit: float) -> Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * limit

    angle = uniform(math.radians(config.rotate))
    zoom = 1 + uniform(config.scale)
    shear = uniform(config.shear)
    shift = torch.stack([uniform(2 * config.translate), uniform(2 * config.translate)], dim=1)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # theta maps output coordinates to input coordinates (both in [-1, 1]).
    theta = torch.stack(
        [
            torch.stack([cos, -sin + shear * cos, shift[:, 0]], dim=1),
            torch.stack([sin, cos + shear * sin, shift[:, 1]], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if config.elastic > 0:
        grid = grid + elastic_field(x.shape, config.elastic, config.elastic_sigma, generator)
    return F.grid_sample(x, grid.to(x.device), mode="bilinear", padding_mode="zeros", align_corners=False)


def elastic_field(shape: torch.Size, alpha: float, sigma: float, generator: torch.Generator) -> Tensor:
    """Simard et al.'s elastic distortion as an offset to a sampling grid [N, H, W, 2] (coordinates in
    [-1, 1]): uniform noise in [-1, 1] per pixel and axis, smoothed by a Gaussian of ``sigma`` pixels
    (separable, zeros beyond the border), scaled to ``alpha`` pixels. Drawn on the CPU like the maps."""
    n, _, height, width = shape
    noise = torch.rand(n * 2, 1, height, width, generator=generator) * 2 - 1
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    smooth = F.conv2d(noise, kernel.view(1, 1, 1, -1), padding=(0, radius))
    smooth = F.conv2d(smooth, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    pixels = smooth.view(n, 2, height, width).permute(0, 2, 3, 1) * alpha
    return pixels * torch.tensor([2 / width, 2 / height])  # pixels -> grid units


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on conv/linear weights only, not on biases or BatchNorm scales."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def resolve_device(name: str) -> torch.device:
    """'auto': the GPU where torch sees one, else the CPU; 'cpu', 'cuda', 'cuda:1', ... as named.
    Raises ConfigError (a clear message) for a GPU that is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: torch sees no CUDA GPU here; use --device cpu or auto")
    return device


@torch.no_grad()
def evaluate(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000
) -> tuple[float, float, Tensor]:
    """(mean cross-entropy, accuracy, logits on the CPU) of ``model`` in eval mode on uint8 images,
    on the device the model is on."""
    model.eval()
    device = next(model.parameters()).device
    logits = torch.cat(
        [
            model(to_tensor(images[i : i + batch_size]).to(device)).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )
    targets = torch.from_numpy(labels)
    loss = F.cross_entropy(logits, targets).item()
    accuracy = (logits.argmax(1) == targets).float().mean().item()
    return loss, accuracy, logits


def select_best_epoch(history: list[EpochStats]) -> int:
    """The epoch with the highest validation accuracy; ties go to the lower validation loss, then to
    the earlier epoch. Uses nothing but validation figures."""
    best = min(history, key=lambda s: (-s.val_accuracy, s.val_loss, s.epoch))
    return best.epoch


def train(config: TrainConfig, train_split: Split, val_split: Split) -> TrainResult:
    """Train one model by SGD on ``train_split`` (with ``--refit``: on both splits, keeping the last
    epoch), measuring ``val_split`` after every epoch."""
    if config.refit:
        train_split = concat(train_split, val_split)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = resolve_device(config.device)
    model = build(config.architecture, config.width).to(device)

    x_train = to_tensor(train_split.images).to(device)
    y_train = torch.from_numpy(train_split.labels).to(device)
    steps_per_epoch = math.ceil(len(y_train) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs

    optimizer = torch.optim.SGD(
        parameter_groups(model, config.weight_decay),
        lr=config.max_lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.max_lr,
        total_steps=total_steps,
        pct_start=config.warmup,
        base_momentum=config.momentum,
        max_momentum=config.momentum,
        cycle_momentum=False,
    )

    history: list[EpochStats] = []
    states: dict[int, dict] = {}
    best_epoch, epoch_seconds = 0, []
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        order = torch.randperm(len(y_train), generator=generator)
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch}/{config.epochs}",
            disable=not config.progress,
            leave=True,
            dynamic_ncols=True,
        )
        for step in bar:
            index = order[step * config.batch_size : (step + 1) * config.batch_size].to(device)
            x, y = x_train[index], y_train[index]
            if config.augment:
                x = random_affine(x, config, generator)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()

            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if step % 20 == 0 or step == steps_per_epoch - 1:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")

        val_loss, val_accuracy, _ = evaluate(model, val_split.images, val_split.labels)
        history.append(EpochStats(epoch, loss_sum / seen, correct / seen, val_loss, val_accuracy))
        epoch_seconds.append(time.perf_counter() - epoch_started)
        if config.progress:
            tqdm.write(
                f"epoch {epoch}: train loss {loss_sum / seen:.4f} acc {correct / seen:.4f} | "
                f"val loss {val_loss:.4f} acc {val_accuracy:.4f} | {epoch_seconds[-1]:.0f}s"
            )
        new_best = epoch if config.refit else select_best_epoch(history)
        if new_best == epoch:
            states = {epoch: copy.deepcopy(model.state_dict())}
        best_epoch = new_best

    model.load_state_dict(states[best_epoch])
    model.cpu().eval()
    return TrainResult(model, history, best_epoch, time.perf_counter() - started, epoch_seconds)
