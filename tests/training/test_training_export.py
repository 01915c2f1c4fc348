"""ONNX export: the contract, the parity check and the model card in metadata."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from contract import INPUT_NAME, NUM_CLASSES, OPSET, OUTPUT_NAME, REQUIRED_METADATA, to_model_input
from training import export
from training.__main__ import run
from training.models import build


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    model = build("cnn", width=8)
    # Non-trivial BatchNorm statistics, so a mistake in eval-mode export would show.
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(64, 1, 28, 28))
    return model.eval()


@pytest.fixture(scope="module")
def proto(small_model):
    return export.to_onnx(small_model)


def test_graph_meets_the_contract(proto):
    onnx.checker.check_model(proto, full_check=True)
    assert any(op.domain in ("", "ai.onnx") and op.version >= OPSET for op in proto.opset_import)
    (graph_input,) = proto.graph.input
    (graph_output,) = proto.graph.output
    assert graph_input.name == INPUT_NAME
    assert graph_output.name == OUTPUT_NAME
    in_dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in graph_output.type.tensor_type.shape.dim]
    assert isinstance(in_dims[0], str)  # dynamic batch
    assert in_dims[1:] == [1, 28, 28]
    assert isinstance(out_dims[0], str)
    assert out_dims[1:] == [NUM_CLASSES]
    ops = {node.op_type for node in proto.graph.node}
    assert "Softmax" in ops
    assert {"Sub", "Div"} <= ops  # the normalization is inside the graph


def test_weights_are_inline_not_external(proto):
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)


@pytest.mark.parametrize("batch", [1, 7])
def test_dynamic_batch_gives_probabilities(proto, small_model, mnist, batch):
    session = export.session(proto)
    images = mnist.test.images[:batch]
    (probabilities,) = session.run([OUTPUT_NAME], {INPUT_NAME: to_model_input(images)})
    assert probabilities.shape == (batch, NUM_CLASSES)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    reference = export.torch_probabilities(small_model, images)
    assert export.check_parity(reference, probabilities) <= export.PARITY_TOLERANCE


def test_parity_check_fires_when_outputs_disagree(proto, small_model, mnist):
    images = mnist.test.images[:200]
    reference = export.torch_probabilities(small_model, images)
    assert export.check_parity(reference, reference.copy()) == 0.0
    off = reference.copy()
    off[123, 4] += 2e-5
    with pytest.raises(export.ParityError, match="image 123"):
        export.check_parity(reference, off)
    with pytest.raises(export.ParityError):
        export.check_parity(reference, np.full_like(reference, np.nan))
    with pytest.raises(export.ParityError, match="shape"):
        export.check_parity(reference, reference[:, :9])
    # A graph that is not the model (here: another model's export) is caught on real images.
    other = export.to_onnx(build("cnn", width=8).eval())
    with pytest.raises(export.ParityError):
        export.check_parity(reference, export.run(export.session(other), images))


def test_metadata_requires_the_contract_keys(proto):
    with pytest.raises(ValueError, match="missing required metadata"):
        export.set_metadata(proto, {"name": "digits"})


def accuracy_of(session: ort.InferenceSession, split) -> float:
    """Measured here: onnxruntime on the written file, labels compared one by one."""
    predictions = []
    for start in range(0, len(split.labels), 1000):
        batch = to_model_input(split.images[start : start + 1000])
        predictions.append(session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0].argmax(1))
    return float(np.mean(np.concatenate(predictions) == split.labels))


def test_full_run_writes_model_card_metrics_and_figures(tmp_path, tiny_config, mnist):
    config = tiny_config(out_dir=tmp_path, version="3")
    metrics = run(config)
    path = tmp_path / "3" / "model.onnx"
    assert path.exists()
    assert list((tmp_path / "3").iterdir()) == [path]  # one self-contained file, nothing beside it
    metadata = export.read_metadata(path)
    for key in (*REQUIRED_METADATA, "history", "best_epoch", "parameters", "test_loss"):
        assert key in metadata, key
    assert metadata["name"] == "digits"
    assert metadata["version"] == "3"
    assert json.loads(metadata["settings"])["width"] == 8
    history = json.loads(metadata["history"])
    assert [h["epoch"] for h in history] == [1, 2]
    assert set(history[0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"}
    best = history[int(metadata["best_epoch"]) - 1]
    assert float(metadata["validation_accuracy"]) == pytest.approx(best["val_accuracy"], abs=5e-5)
    fresh = build("cnn", width=8)  # the architecture trained, counted here
    assert int(metadata["parameters"]) == sum(p.numel() for p in fresh.parameters())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["name"] == "digits"
    # The card's figures are what the written file scores, measured here: the full official test set,
    # and the validation images the best epoch was chosen on (the file holds that epoch's weights).
    assert float(metadata["test_accuracy"]) == pytest.approx(accuracy_of(session, mnist.test), abs=5e-5)
    assert metrics["test_images"] == len(mnist.test.labels) == 10_000
    validation = mnist.val.subset(config.val_subset)
    assert float(metadata["validation_accuracy"]) == pytest.approx(accuracy_of(session, validation), abs=5e-5)
    assert metrics["parity_max_abs_diff"] <= export.PARITY_TOLERANCE
    for name in (
        "metrics.json",
        "README.md",
        "learning_curves.png",
        "confusion_matrix.png",
        "misclassified.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "metrics.json").read_text())["best_epoch"] == int(metadata["best_epoch"])
    assert "python -m training" in (tmp_path / "README.md").read_text()


def test_full_run_refuses_to_write_a_model_that_fails_parity(tmp_path, monkeypatch, tiny_config):
    original = export.torch_probabilities

    def skewed(model, images, batch_size=1000):
        return np.roll(original(model, images, batch_size), 1, axis=1)

    monkeypatch.setattr(export, "torch_probabilities", skewed)
    with pytest.raises(export.ParityError, match="not written"):
        run(tiny_config(out_dir=tmp_path, train_subset=256, val_subset=256, epochs=1))
    assert not (tmp_path / "1" / "model.onnx").exists()
