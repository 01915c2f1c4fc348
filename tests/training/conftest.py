"""Shared fixtures for the training tests: the real MNIST (from the cache, fetched if absent) and small
configs that train in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from training import data
from training.config import TrainConfig


@pytest.fixture(scope="session")
def mnist() -> data.MNIST:
    return data.load("wheel")


@pytest.fixture
def tiny_config():
    return make_tiny_config


def make_tiny_config(**overrides) -> TrainConfig:
    """A CNN small enough to train for a few epochs on a few thousand images in seconds."""
    settings = {
        "width": 8,
        "epochs": 2,
        "batch_size": 64,
        "max_lr": 0.05,
        "train_subset": 2000,
        "val_subset": 1000,
        "threads": 1,
        "progress": False,
        # Two members, so the averaging is exercised; a small digit head on few pictures.
        "members": 2,
        "widths": "",  # both of --width
        "refit": False,  # no held-out twins to train (tests of --refit ask for it)
        "head_digits": 500,
        "head_printed": 200,
        "head_negatives": 100,
        "head_epochs": 3,
    }
    return TrainConfig(**(settings | overrides))


def _write_idx(path, array: np.ndarray) -> None:
    """The MNIST idx format torchvision reads: magic (0, 0, uint8 type, ndim), big-endian dims, bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope="session")
def torchvision_dir(mnist, tmp_path_factory):
    """A data folder holding torchvision's MNIST files, rebuilt offline from the wheel's data (60k
    train = train + val), for ``data.load("torchvision", folder, download=False)``."""
    root = tmp_path_factory.mktemp("torchvision-data")
    raw = root / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte", np.concatenate([mnist.train.images, mnist.val.images]))
    _write_idx(raw / "train-labels-idx1-ubyte", np.concatenate([mnist.train.labels, mnist.val.labels]))
    _write_idx(raw / "t10k-images-idx3-ubyte", mnist.test.images)
    _write_idx(raw / "t10k-labels-idx1-ubyte", mnist.test.labels)
    return root
