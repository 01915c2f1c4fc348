"""The model file in the repository: it loads in onnxruntime, meets the contract and is as good as its
card says on the full official test set."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from repo_files import MODEL_DIR
from repo_files import SHIPPED_MODEL as SHIPPED

from contract import INPUT_NAME, MODEL_NAME, NUM_CLASSES, OUTPUT_NAME, REQUIRED_METADATA, to_model_input
from training.data import MNIST_SHA256


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def metadata(session) -> dict[str, str]:
    return session.get_modelmeta().custom_metadata_map


@pytest.fixture(scope="module")
def probabilities(session, mnist) -> np.ndarray:
    images = mnist.test.images
    return np.concatenate(
        [
            session.run([OUTPUT_NAME], {INPUT_NAME: to_model_input(images[i : i + 1000])})[0]
            for i in range(0, len(images), 1000)
        ]
    )


def test_shipped_model_is_one_self_contained_file():
    assert sorted(p.name for p in SHIPPED.parent.iterdir()) == ["model.onnx"]


def test_shipped_model_meets_the_contract(session):
    (graph_input,) = session.get_inputs()
    (graph_output,) = session.get_outputs()
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
    history = json.loads(metadata["history"])
    best = history[int(metadata["best_epoch"]) - 1]
    assert float(metadata["validation_accuracy"]) == pytest.approx(best["val_accuracy"], abs=5e-5)
    assert best["val_accuracy"] == max(h["val_accuracy"] for h in history)
    settings = json.loads(metadata["settings"])
    assert settings["epochs"] == len(history)


def test_shipped_model_accuracy_on_the_official_test_set(probabilities, metadata, mnist):
    accuracy = float(np.mean(probabilities.argmax(axis=1) == mnist.test.labels))
    assert accuracy >= 0.996
    assert accuracy == pytest.approx(float(metadata["test_accuracy"]), abs=0.0005)


def test_shipped_metrics_and_figures_agree_with_the_model(metadata):
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(float(metadata["test_accuracy"]), abs=5e-5)
    assert metrics["best_epoch"] == int(metadata["best_epoch"])
    for name in ("learning_curves.png", "confusion_matrix.png", "misclassified.png", "README.md"):
        assert (MODEL_DIR / name).stat().st_size > 0
    assert (MODEL_DIR / "README.md").read_text().count(f"{100 * metrics['test_accuracy']:.2f}%") >= 1
