"""Shared fixtures for the training tests: the real MNIST (from the cache, fetched if absent) and small
configs that train in seconds."""

from __future__ import annotations

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
    }
    return TrainConfig(**(settings | overrides))
