"""DigitModel: the shipped model loads and answers; every way a model can be wrong is one clear ModelError.

The broken models are built with the ``onnx`` helper API (no torch), each differing from a valid one in
exactly one respect, so each test shows that one check works.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import contract
from service.model import DigitModel, ModelError

METADATA = {
    "name": "digits",
    "version": "test",
    "test_accuracy": "0.5",
    "validation_accuracy": "0.5",
    "trained_at": "2026-01-01T00:00:00Z",
    "data_sha256": "0" * 64,
    "settings": json.dumps({"lr": 0.1}),
}


def build(
    path: Path,
    *,
    input_name: str = contract.INPUT_NAME,
    output_name: str = contract.OUTPUT_NAME,
    batch: str | int = "N",
    classes: int = 10,
    softmax: bool = True,
    metadata: dict[str, str] | None = None,
    score_columns: int | None = None,
) -> Path:
    """image [batch,1,28,28] -> Flatten -> MatMul(784 x classes) -> (Softmax) -> output [batch, classes];
    with ``score_columns``, also digit_score = Sigmoid(MatMul(784 x score_columns)) [batch, score_columns]."""
    rng = np.random.default_rng(0)
    weights = helper.make_tensor(
        "W", TensorProto.FLOAT, [784, classes], rng.normal(0, 0.1, (784, classes)).astype(np.float32).ravel()
    )
    nodes = [
        helper.make_node("Flatten", [input_name], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["logits" if softmax else output_name]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], [output_name], axis=1))
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, classes])]
    initializers = [weights]
    if score_columns is not None:
        values = rng.normal(0, 0.1, (784, score_columns)).astype(np.float32).ravel()
        initializers.append(helper.make_tensor("S", TensorProto.FLOAT, [784, score_columns], values))
        nodes += [
            helper.make_node("MatMul", ["flat", "S"], ["score_logit"]),
            helper.make_node("Sigmoid", ["score_logit"], [contract.DIGIT_SCORE_NAME]),
        ]
        outputs.append(
            helper.make_tensor_value_info(
                contract.DIGIT_SCORE_NAME, TensorProto.FLOAT, [batch, score_columns]
            )
        )
    graph = helper.make_graph(
        nodes,
        "digits-test",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 1, 28, 28])],
        outputs,
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", contract.OPSET)])
    model.ir_version = 8
    for key, value in (METADATA if metadata is None else metadata).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_the_shipped_model_meets_the_contract_and_answers(shipped_model) -> None:
    assert shipped_model.name == contract.MODEL_NAME
    assert set(contract.REQUIRED_METADATA) <= shipped_model.metadata.keys()
    batch = np.zeros((3, 1, 28, 28), dtype=np.float32)
    out = shipped_model.predict(batch)
    assert out.shape == (3, 10)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_a_valid_model_loads_with_the_chosen_threads_and_its_card(tmp_path) -> None:
    model = DigitModel.load(build(tmp_path / "ok.onnx"), intra_op_threads=2, inter_op_threads=1)
    assert (model.name, model.version) == ("digits", "test")
    assert model.intra_op_threads == 2
    assert model.card()["settings"] == {"lr": 0.1}  # JSON objects in the metadata are parsed
    assert model.card()["version"] == "test"  # plain text stays text
    assert model.predict(np.ones((2, 1, 28, 28), dtype=np.float32)).shape == (2, 10)


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ({"input_name": "x"}, "inputs ['x']"),
        ({"output_name": "logits_out"}, "outputs ['logits_out']"),
        ({"batch": 1}, "input tensor(float) [1, 1, 28, 28]"),
        ({"classes": 5}, "output tensor(float)"),
        ({"softmax": False}, "softmax must be inside the graph"),
        ({"metadata": {k: v for k, v in METADATA.items() if k != "test_accuracy"}}, "lacks test_accuracy"),
        ({"metadata": {**METADATA, "name": "letters"}}, "'letters'"),
        ({"score_columns": 2}, "!= tensor(float) [None, 1] (digit_score)"),
    ],
)
def test_a_model_breaking_the_contract_is_refused_with_the_reason(tmp_path, variant, message) -> None:
    path = build(tmp_path / "bad.onnx", **variant)
    with pytest.raises(ModelError) as caught:
        DigitModel.load(path)
    text = str(caught.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text  # one line


def test_a_model_with_digit_score_says_which_images_look_like_digits(tmp_path) -> None:
    model = DigitModel.load(build(tmp_path / "scored.onnx", score_columns=1))
    assert model.has_digit_score
    batch = np.random.default_rng(1).random((4, 1, 28, 28), dtype=np.float32)
    answer = model.classify(batch)
    scores = model.session.run([contract.DIGIT_SCORE_NAME], {contract.INPUT_NAME: batch})[0].ravel()
    np.testing.assert_array_equal(answer.digit_scores, scores)
    np.testing.assert_array_equal(answer.looks_like_digit, scores >= contract.DIGIT_SCORE_THRESHOLD)
    assert set(answer.outputs) == {contract.OUTPUT_NAME, contract.DIGIT_SCORE_NAME}


def test_a_model_without_digit_score_still_loads_and_uses_the_fallback_rule(tmp_path) -> None:
    """Version 1 has no digit_score: the score is the top probability, the rule the contract's fallback."""
    model = DigitModel.load(build(tmp_path / "v1.onnx"))
    assert not model.has_digit_score
    batch = np.random.default_rng(2).random((6, 1, 28, 28), dtype=np.float32) * 4
    answer = model.classify(batch)
    top = answer.probabilities.max(axis=1)
    np.testing.assert_array_equal(answer.digit_scores, top)
    np.testing.assert_array_equal(answer.looks_like_digit, top >= contract.FALLBACK_MIN_CONFIDENCE)
    assert set(answer.outputs) == {contract.OUTPUT_NAME}


def test_a_missing_file_says_where_it_looked_and_how_to_point_elsewhere(tmp_path) -> None:
    with pytest.raises(
        ModelError, match=r"not found: .*nope\.onnx \(set DIGITS_MODEL_PATH or --model-path\)"
    ):
        DigitModel.load(tmp_path / "nope.onnx")


@pytest.mark.parametrize("content", [b"", b"not a protobuf at all \x00\xff" * 10])
def test_a_corrupt_file_is_refused_in_one_line(tmp_path, content) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a loadable ONNX model") as caught:
        DigitModel.load(path)
    assert "\n" not in str(caught.value)


def test_a_directory_is_not_a_model(tmp_path) -> None:
    with pytest.raises(ModelError, match="not found"):
        DigitModel.load(tmp_path)
