"""The ensemble's members: each one CNN trained by ``training.train`` with its own seed, cached on disk
under a name made from its recipe and its data, so that a long run can train members in parallel
processes (``--only-member K``) and the final run loads them instead of training them again.

A checkpoint holds the weights of the best validation epoch and everything the card needs to say about
the run that made them (history, epoch times, data source and sizes); nothing in it is written by hand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.config import TrainConfig
from training.data import MNIST, Split
from training.models import build
from training.train import EpochStats, TrainResult, train


@dataclass
class Member:
    """One trained member: its result and where its checkpoint lives."""

    index: int
    seed: int
    result: TrainResult
    path: Path | None  # its checkpoint (None: no cache)
    loaded: bool  # True: taken from the cache, not trained by this process
    finished_at: float  # Unix time its training ended

    @property
    def started_at(self) -> float:
        return self.finished_at - self.result.seconds


# The settings that determine one member's weights (the rest: the ensemble, the head, the version).
MEMBER_FIELDS = (
    "source",
    "train_subset",
    "val_subset",
    "architecture",
    "width",
    "epochs",
    "batch_size",
    "max_lr",
    "warmup",
    "momentum",
    "nesterov",
    "weight_decay",
    "label_smoothing",
    "refit",
    "augment",
    "rotate",
    "scale",
    "shear",
    "translate",
    "elastic",
    "elastic_sigma",
    "seed",
    "threads",
    "device",
)


def member_config(config: TrainConfig, index: int) -> TrainConfig:
    """The single-model recipe of member ``index``: the run's recipe with seed ``seed + index`` and the
    member's own width."""
    return dataclasses.replace(
        config,
        seed=config.seed + index,
        width=config.member_width(index),
        members=1,
        widths="",
        only_member=None,
    )


def identity(config: TrainConfig, data: MNIST) -> dict[str, Any]:
    """What a checkpoint must match to stand for this member: its recipe and its data."""
    recipe = config.recipe()
    return {
        "recipe": {name: recipe[name] for name in MEMBER_FIELDS},
        "source": data.source,
        "data_sha256": data.sha256,
    }


# Settings added after checkpoints were first written: a checkpoint without one was trained with this value.
ADDED_LATER = {"elastic": 0.0, "elastic_sigma": 4.0, "refit": False}


def _matches(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    recipe = {**ADDED_LATER, **stored.get("recipe", {})}
    return (
        all(name in recipe and recipe[name] == value for name, value in wanted["recipe"].items())
        and stored.get("source") == wanted["source"]
        and stored.get("data_sha256") == wanted["data_sha256"]
    )


def checkpoint_key(wanted: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(wanted, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save(result: TrainResult, path: Path, identity: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(
        {
            "identity": identity,
            "finished_at": time.time(),
            "state_dict": result.model.state_dict(),
            "history": [dataclasses.asdict(h) for h in result.history],
            "best_epoch": result.best_epoch,
            "seconds": result.seconds,
            "epoch_seconds": result.epoch_seconds,
        },
        partial,
    )
    partial.replace(path)


def _read(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def load(path: Path, config: TrainConfig) -> tuple[TrainResult, float]:
    """(the member's result, when its training finished as a Unix time)."""
    checkpoint = _read(path)
    model: nn.Module = build(config.architecture, config.width)
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    history = [EpochStats(**h) for h in checkpoint["history"]]
    result = TrainResult(
        model, history, checkpoint["best_epoch"], checkpoint["seconds"], checkpoint["epoch_seconds"]
    )
    # Checkpoints written before "finished_at" was stored: the file's modification time says it.
    return result, float(checkpoint.get("finished_at", path.stat().st_mtime))


def find(config: TrainConfig, wanted: dict[str, Any]) -> Path | None:
    """A checkpoint in the cache whose stored identity matches ``wanted`` (the file name is only a
    hint: the identity inside decides)."""
    for path in sorted(Path(config.checkpoint_dir).glob(f"member-seed{config.seed}-*.pt")):
        if _matches(_read(path).get("identity", {}), wanted):
            return path
    return None


def get(config: TrainConfig, index: int, data: MNIST, train_split: Split, val_split: Split) -> Member:
    """Member ``index`` of ``config``'s ensemble: loaded from the checkpoint cache, else trained and
    saved there."""
    single = member_config(config, index)
    wanted = identity(single, data)
    path = find(single, wanted) if config.checkpoint_dir is not None else None
    if path is not None:
        result, finished = load(path, single)
        return Member(index, single.seed, result, path, loaded=True, finished_at=finished)
    result = train(single, train_split, val_split)
    if config.checkpoint_dir is None:
        return Member(index, single.seed, result, None, loaded=False, finished_at=time.time())
    path = Path(config.checkpoint_dir) / f"member-seed{single.seed}-{checkpoint_key(wanted)}.pt"
    save(result, path, wanted)
    return Member(index, single.seed, result, path, loaded=False, finished_at=time.time())
