"""Back to training: ``python -m training evaluate --store URL`` scores the shipped model on corrected
samples, and ``python -m training --store URL`` trains on them (kept out of test) and says so in the card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import contract
from service.model import DigitModel
from service.predictions import new_prediction_id
from service.settings import Settings
from service.store import database, queries
from service.store.writer import SampleWriter

REPO_ROOT = Path(__file__).resolve().parents[2]
ONE = np.array([[255.0 if 4 <= r < 24 and c in (13, 14) else 0.0 for c in range(28)] for r in range(28)])


@pytest.fixture(scope="module")
def corrected_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store with nine predictions of a drawn "1": six labelled 1, two labelled 7 (wrongly),
    one marked not a digit."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'samples.db'}"
    engine = database.create_store_engine(url)
    database.migrate(engine)
    model = DigitModel.load(Settings().model_path)
    pixels = np.stack([ONE] * 9)
    answer = model.classify(contract.to_model_input(pixels))
    probabilities = answer.probabilities
    assert set(answer.labels.tolist()) == {1}
    ids = [new_prediction_id() for _ in range(9)]
    writer = SampleWriter(engine)
    writer.start()
    writer.record("/predict/batch", ids, pixels, probabilities, model.name, model.version)
    assert writer.flush()
    writer.stop()
    for pid, label in zip(ids, [1, 1, 1, 1, 1, 1, 7, 7, None], strict=True):
        assert queries.set_feedback(engine, pid, label, label is None)
    engine.dispose()
    return url


def run_training_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "training", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_evaluate_scores_the_shipped_model_per_class(corrected_store: str) -> None:
    done = run_training_cli("evaluate", "--store", corrected_store, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["samples"] == 8  # not-a-digit samples have no class to score
    assert result["accuracy"] == pytest.approx(6 / 8)
    assert result["served_accuracy"] == pytest.approx(6 / 8)
    per_class = {row["digit"]: row for row in result["per_class"]}
    assert (per_class[1]["samples"], per_class[1]["accuracy"]) == (6, 1.0)
    assert (per_class[7]["samples"], per_class[7]["accuracy"]) == (2, 0.0)
    assert per_class[0]["accuracy"] is None
    assert result["model"].endswith("models/digits/3/model.onnx")

    table = run_training_cli("evaluate", "--store", corrected_store)
    assert table.returncode == 0
    assert "accuracy 75.0%" in table.stdout
    assert "    7        2      0.0%" in table.stdout


def test_evaluate_without_samples_or_store_says_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    database.migrate(database.create_store_engine(url))
    empty = run_training_cli("evaluate", "--store", url)
    assert empty.returncode == 2
    assert "no corrected samples" in empty.stderr
    unmigrated = run_training_cli("evaluate", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert unmigrated.returncode == 2
    assert "python -m service.store migrate" in unmigrated.stderr


@pytest.mark.slow
def test_training_adds_the_store_samples_and_records_it(corrected_store: str, tmp_path: Path) -> None:
    from training.__main__ import run
    from training.config import TrainConfig
    from training.export import read_metadata

    config = TrainConfig(  # tests/training's tiny config: trains in seconds
        width=8, widths="", members=2, epochs=1, batch_size=64, max_lr=0.05, train_subset=2000,
        val_subset=1000, threads=1, progress=False, out_dir=tmp_path, version="5", store=corrected_store,
        store_validation=0.5,
    )  # fmt: skip
    metrics = run(config)
    record = metrics["store_samples"]
    assert (record["samples"], record["train"], record["validation"]) == (8, 4, 4)
    assert "password" not in record["store"]
    assert metrics["test_images"] == 10_000  # the test set stays MNIST's own
    assert metrics["validation_images"] == 1000  # the subset takes the store's 4 first, then MNIST's
    assert json.loads(read_metadata(tmp_path / "5" / "model.onnx")["store_samples"])["samples"] == 8
    card = (tmp_path / "README.md").read_text()
    assert "## Samples from the service's store" in card
    assert "4 in training, 4 in validation, none in test" in card
