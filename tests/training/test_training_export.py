"""ONNX export: the contract, the parity check and the model card in metadata."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from contract import (
    DIGIT_SCORE_NAME,
    INPUT_NAME,
    NUM_CLASSES,
    OPSET,
    OUTPUT_NAME,
    REQUIRED_METADATA,
    to_model_input,
)
from training import data, export
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
    members = json.loads(metadata["members"])
    assert [m["seed"] for m in members] == [0, 1]
    assert members[0]["best_epoch"] == int(metadata["best_epoch"])
    for member, row in zip(members, metrics["members"], strict=True):
        best = row["history"][member["best_epoch"] - 1]
        assert (
            member["validation_accuracy"]
            == best["val_accuracy"]
            == max(h["val_accuracy"] for h in row["history"])
        )
    # Parameters are counted: two width-8 CNNs plus the digit head.
    assert (
        int(metadata["parameters"])
        == metrics["parameters"]
        > sum(m["parameters"] for m in metrics["members"])
    )
    fresh = build("cnn", width=8)  # the architecture trained, counted here
    assert sum(m["parameters"] for m in metrics["members"]) == 2 * sum(p.numel() for p in fresh.parameters())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # The card's figures are what the written file scores, measured here: the full official test set,
    # and the validation images the members were chosen on.
    assert float(metadata["test_accuracy"]) == pytest.approx(accuracy_of(session, mnist.test), abs=5e-5)
    assert metrics["test_images"] == len(mnist.test.labels) == 10_000
    validation = mnist.val.subset(config.val_subset)
    assert float(metadata["validation_accuracy"]) == pytest.approx(accuracy_of(session, validation), abs=5e-5)
    assert metrics["parity_max_abs_diff"] <= export.SCORE_PARITY_TOLERANCE
    assert session.get_modelmeta().custom_metadata_map["name"] == "digits"
    assert [o.name for o in session.get_outputs()] == [OUTPUT_NAME, DIGIT_SCORE_NAME]
    probabilities, scores = session.run(None, {INPUT_NAME: to_model_input(np.zeros((3, 28, 28)))})
    assert probabilities.shape == (3, NUM_CLASSES)
    assert scores.shape == (3, 1)
    # The temperature was fitted on validation and is inside the graph: metrics and card agree.
    calibration = metrics["calibration"]
    assert float(metadata["temperature"]) == pytest.approx(calibration["temperature"], abs=5e-5)
    assert calibration["validation_nll_after"] <= calibration["validation_nll_before"] + 1e-9
    assert sum(calibration["test_after"]["bin_count"]) == 10_000
    for name in (
        "metrics.json",
        "README.md",
        "learning_curves.png",
        "confusion_matrix.png",
        "misclassified.png",
        "reliability.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "metrics.json").read_text())["best_epoch"] == int(metadata["best_epoch"])
    assert "python -m training" in (tmp_path / "README.md").read_text()


def test_full_run_refuses_to_write_a_model_that_fails_parity(tmp_path, monkeypatch, tiny_config):
    original = export.torch_outputs

    def skewed(model, images, batch_size=1000):
        probabilities, *rest = original(model, images, batch_size)
        return [np.roll(probabilities, 1, axis=1), *rest]

    monkeypatch.setattr(export, "torch_outputs", skewed)
    with pytest.raises(export.ParityError, match="not written"):
        run(tiny_config(out_dir=tmp_path, train_subset=256, val_subset=256, epochs=1))
    assert not list(tmp_path.glob("*/model.onnx"))


def test_members_trained_apart_are_loaded_not_retrained(tmp_path, tiny_config):
    """--only-member K trains member K into --checkpoint-dir (members can train in parallel processes); the
    full run then loads them, and the card says which were trained by the run itself."""
    settings = {"checkpoint_dir": tmp_path / "members", "train_subset": 256, "val_subset": 256, "epochs": 1}
    only = run(tiny_config(**settings, only_member=1, out_dir=tmp_path / "none"))
    assert only["seed"] == 1
    assert not only["loaded"]
    assert not (tmp_path / "none").exists()  # no export, no report
    metrics = run(tiny_config(**settings, out_dir=tmp_path / "out"))
    assert [m["trained_by_this_run"] for m in metrics["members"]] == [True, False]
    assert metrics["members"][1]["validation_accuracy"] == only["validation_accuracy"]
    assert len(list((tmp_path / "members").glob("member-seed*.pt"))) == 2


def test_members_of_different_widths_are_trained_and_described(tmp_path, tiny_config):
    """--widths gives each member its own width (one trained apart with --only-member); the graph holds
    both, and the card, metrics and metadata say each member's width and parameter count."""
    settings = {
        "checkpoint_dir": tmp_path / "members",
        "train_subset": 256,
        "val_subset": 256,
        "epochs": 1,
        "members": 2,
        "widths": "8,4",
    }
    only = run(tiny_config(**settings, only_member=1, out_dir=tmp_path / "none"))
    assert only["seed"] == 1
    metrics = run(tiny_config(**settings, out_dir=tmp_path / "out"))
    assert [m["width"] for m in metrics["members"]] == [8, 4]
    assert [m["trained_by_this_run"] for m in metrics["members"]] == [True, False]
    counted = [sum(p.numel() for p in build("cnn", width=w).parameters()) for w in (8, 4)]
    assert [m["parameters"] for m in metrics["members"]] == counted
    metadata = {p.key: p.value for p in onnx.load(metrics["model_path"]).metadata_props}
    assert [m["width"] for m in json.loads(metadata["members"])] == [8, 4]
    assert json.loads(metadata["settings"])["widths"] == "8,4"
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"| 1 | 4 | {counted[1]:,} |" in card
    assert "widths\n  8, 4" in card or "widths 8, 4" in card
    assert "--widths 8,4" in metrics["command"]


def test_widths_and_members_that_disagree_are_refused():
    from training.config import ConfigError, TrainConfig

    assert TrainConfig(widths="32,16,16", members=3).member_widths() == [32, 16, 16]
    assert TrainConfig(widths="", width=8, members=3).member_widths() == [8, 8, 8]
    with pytest.raises(ConfigError, match="--members 4 but --widths '32,16,16' names 3"):
        TrainConfig(widths="32,16,16", members=4)
    with pytest.raises(ConfigError, match="whole numbers"):
        TrainConfig(widths="32,wide", members=2)


def test_checkpoints_written_before_a_setting_existed_stand_for_its_off_value():
    """A member cached before --elastic existed was trained without it: it matches elastic 0 only."""
    from training.members import _matches

    wanted = {
        "recipe": {"width": 32, "elastic": 0.0, "elastic_sigma": 4.0},
        "source": "wheel",
        "data_sha256": "x",
    }
    older = {"recipe": {"width": 32}, "source": "wheel", "data_sha256": "x"}
    assert _matches(older, wanted)
    assert not _matches(older, {**wanted, "recipe": {**wanted["recipe"], "elastic": 34.0}})
    assert not _matches(older, {**wanted, "recipe": {**wanted["recipe"], "width": 16}})


def test_refit_trains_on_validation_too_and_keeps_the_last_epoch(tiny_config):
    """--refit: the validation images are training data (a model shown only zeros in training and only
    ones in validation learns the ones), and the last epoch is kept, not the best validation one."""
    from training.data import Split
    from training.train import train

    rng = np.random.default_rng(0)
    zeros = Split(rng.integers(0, 80, (128, 28, 28), dtype=np.uint8), np.zeros(128, dtype=np.int64))
    ones = Split(rng.integers(170, 255, (128, 28, 28), dtype=np.uint8), np.ones(128, dtype=np.int64))
    config = tiny_config(members=1, width=4, epochs=3, augment=False)
    held_out = train(config, zeros, ones)
    refit = train(dataclasses.replace(config, refit=True), zeros, ones)
    assert held_out.best.val_accuracy == 0.0  # never saw a one
    assert refit.history[-1].val_accuracy == 1.0
    assert refit.best_epoch == config.epochs


def test_refit_members_come_with_held_out_twins_that_validation_measures(tmp_path, tiny_config):
    """A --refit run also has each member's twin without --refit (trained, or from the cache); the
    temperature is fitted on the twins' ensemble on validation, and the card, metrics and metadata give
    the twins' held-out validation figure beside the refit members' (which saw validation)."""
    from training import ensemble

    settings = {"checkpoint_dir": tmp_path / "members", "train_subset": 256, "val_subset": 256, "epochs": 2}
    metrics = run(tiny_config(**settings, refit=True, out_dir=tmp_path / "out"))
    checkpoints = [
        torch.load(p, map_location="cpu", weights_only=True)
        for p in sorted((tmp_path / "members").glob("member-seed*.pt"))
    ]
    assert sorted(c["identity"]["recipe"]["refit"] for c in checkpoints) == [False, False, True, True]
    assert [m["best_epoch"] for m in metrics["members"]] == [2, 2]
    twins = []
    for checkpoint in checkpoints:
        if not checkpoint["identity"]["recipe"]["refit"]:
            twin = build("cnn", checkpoint["identity"]["recipe"]["width"])
            twin.load_state_dict(checkpoint["state_dict"])
            twins.append(twin.eval())
    val = data.load("wheel").val.subset(256)
    twin_log_probs, _ = ensemble.compute(ensemble.Ensemble(twins).eval(), val.images)
    assert metrics["calibration"]["temperature"] == ensemble.fit_temperature(twin_log_probs, val.labels)
    assert "held-out twins" in metrics["calibration"]["temperature_source"]
    twin_accuracy = float(np.mean(twin_log_probs.argmax(1) == val.labels))
    assert metrics["held_out_twins"]["validation_accuracy"] == twin_accuracy
    metadata = {p.key: p.value for p in onnx.load(metrics["model_path"]).metadata_props}
    assert metadata["held_out_validation_accuracy"] == f"{twin_accuracy:.4f}"
    card = (tmp_path / "out" / "README.md").read_text()
    twins_row = "held-out twins' ensemble (the same members without --refit, 256 held-out images)"
    assert f"{twins_row} | {100 * twin_accuracy:.2f}%" in card
    assert "not a held-out figure" in card
    assert "--refit" in metrics["command"]
    again = run(tiny_config(**settings, refit=True, out_dir=tmp_path / "again"))
    assert not any(m["trained_by_this_run"] for m in again["members"])  # twins and members from the cache
