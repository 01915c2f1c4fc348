"""The model file in the repository: it loads in onnxruntime, meets the contract and is as good as its
card says on the full official test set, calibrated as the card says (issue 14's target, 99.75%, is
not reached yet: 99.73%, docs/notes.md)."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from repo_files import MODEL_DIR
from repo_files import SHIPPED_MODEL as SHIPPED

from contract import (
    DIGIT_SCORE_NAME,
    INPUT_NAME,
    MODEL_NAME,
    NUM_CLASSES,
    OUTPUT_NAME,
    REQUIRED_METADATA,
    to_model_input,
)
from training.data import MNIST_SHA256


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def metadata(session) -> dict[str, str]:
    return session.get_modelmeta().custom_metadata_map


FLOOR_ACCURACY = 0.997  # what the shipped model must never fall below


@pytest.fixture(scope="module")
def outputs(session, mnist) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [10000, 10], digit_score [10000]) of the official test set."""
    images = mnist.test.images
    batches = [
        session.run([OUTPUT_NAME, DIGIT_SCORE_NAME], {INPUT_NAME: to_model_input(images[i : i + 1000])})
        for i in range(0, len(images), 1000)
    ]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]).ravel()


@pytest.fixture(scope="module")
def probabilities(outputs) -> np.ndarray:
    return outputs[0]


def test_shipped_model_is_one_self_contained_file():
    assert sorted(p.name for p in SHIPPED.parent.iterdir()) == ["model.onnx"]


def test_shipped_model_meets_the_contract(session):
    (graph_input,) = session.get_inputs()
    graph_output, score_output = session.get_outputs()
    assert score_output.name == DIGIT_SCORE_NAME
    assert score_output.type == "tensor(float)"
    assert score_output.shape[1:] == [1]
    assert graph_input.name == INPUT_NAME
    assert graph_input.type == "tensor(float)"
    assert graph_input.shape[1:] == [1, 28, 28]
    assert isinstance(graph_input.shape[0], str)
    assert graph_output.name == OUTPUT_NAME
    assert graph_output.shape[1:] == [NUM_CLASSES]
    for batch in (1, 7):
        (out,) = session.run(
            [OUTPUT_NAME],
            {INPUT_NAME: np.random.default_rng(batch).random((batch, 1, 28, 28), dtype=np.float32)},
        )
        assert out.shape == (batch, NUM_CLASSES)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_shipped_model_card_is_complete(metadata):
    for key in (*REQUIRED_METADATA, "history", "best_epoch", "parameters", "test_loss"):
        assert metadata.get(key), key
    assert metadata["name"] == MODEL_NAME
    assert metadata["version"] == SHIPPED.parent.name
    assert metadata["data_sha256"] == MNIST_SHA256
    history = json.loads(metadata["history"])  # the first member's
    members = json.loads(metadata["members"])
    assert len(members) == int(json.loads(metadata["settings"])["members"]) >= 2
    assert members[0]["best_epoch"] == int(metadata["best_epoch"])
    best = history[int(metadata["best_epoch"]) - 1]
    assert (
        members[0]["validation_accuracy"] == best["val_accuracy"] == max(h["val_accuracy"] for h in history)
    )
    settings = json.loads(metadata["settings"])
    assert settings["epochs"] == len(history)
    assert (metadata["source"], metadata["train_images"], metadata["validation_images"]) == (
        "wheel",
        "50000",
        "10000",
    )


def test_shipped_model_accuracy_on_the_official_test_set(probabilities, metadata, mnist):
    accuracy = float(np.mean(probabilities.argmax(axis=1) == mnist.test.labels))
    print(f"\nshipped model: {accuracy:.2%} on the {len(mnist.test)} official MNIST test images")
    assert len(mnist.test) == 10_000
    assert accuracy >= FLOOR_ACCURACY
    assert accuracy == pytest.approx(float(metadata["test_accuracy"]), abs=5e-5)


def test_shipped_model_is_calibrated_as_its_card_says(probabilities, metadata, mnist):
    """ECE on the test set as measured here, equal to the card's, and better than before the temperature."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == mnist.test.labels
    bins = np.clip(np.digitize(confidence, np.linspace(0, 1, 16)[1:-1], right=True), 0, 14)
    ece = sum(
        abs(correct[bins == b].mean() - confidence[bins == b].mean()) * np.mean(bins == b)
        for b in range(15)
        if np.any(bins == b)
    )
    assert ece == pytest.approx(float(metadata["test_ece_after"]), abs=1e-4)
    assert ece < float(metadata["test_ece_before"])


def test_shipped_model_rarely_flags_mnist_test_digits(outputs, metadata):
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text())
    flagged = float(np.mean(outputs[1] < float(metadata["digit_score_threshold"])))
    assert flagged == pytest.approx(metrics["digit_score"]["test"]["mnist_flagged"], abs=1e-9)
    assert flagged <= 0.01


def test_shipped_metrics_and_figures_agree_with_the_model(metadata):
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(float(metadata["test_accuracy"]), abs=5e-5)
    assert metrics["best_epoch"] == int(metadata["best_epoch"])
    names = (
        "learning_curves.png",
        "confusion_matrix.png",
        "misclassified.png",
        "reliability.png",
        "README.md",
    )
    for name in names:
        assert (MODEL_DIR / name).stat().st_size > 0
    assert (MODEL_DIR / "README.md").read_text().count(f"{100 * metrics['test_accuracy']:.2f}%") >= 1


def test_the_training_defaults_are_the_shipped_recipe(metadata):
    """README: `python -m training` reproduces the shipped model, so its defaults are the card's recipe
    (a setting added after the card was written counts at its off value, as for cached members)."""
    from training.config import TrainConfig
    from training.members import ADDED_LATER

    assert {**ADDED_LATER, **json.loads(metadata["settings"])} == TrainConfig().recipe()
    widths = [int(w) for w in TrainConfig().widths.split(",")]
    assert [m["width"] for m in json.loads(metadata["members"])] == widths
