"""models/digits/config.pbtxt is a Triton model configuration that fits the ONNX file next to it.

Parsed with the protobuf schema tritonclient ships (model_config_pb2), compared with the graph's
inputs/outputs as onnxruntime reports them and with contract.py, and the graph is run at Triton's
largest batch to show the dynamic batch dimension really is dynamic.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort
import pytest
from deployfiles import REPO
from google.protobuf import text_format

import contract

MODEL_DIR = REPO / "models" / contract.MODEL_NAME
ORT_TO_TRITON = {"tensor(float)": "TYPE_FP32", "tensor(uint8)": "TYPE_UINT8", "tensor(int64)": "TYPE_INT64"}


def load_model_config_pb2() -> ModuleType:
    """tritonclient's generated model_config_pb2, loaded from its file.

    `from tritonclient.grpc import model_config_pb2` runs tritonclient/grpc/__init__.py, which needs the
    grpc package (not installed: the http client is enough); the generated module itself needs only
    protobuf.
    """
    spec = importlib.util.find_spec("tritonclient")
    assert spec is not None, "tritonclient is not installed (dev extra)"
    assert spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("tritonclient_model_config_pb2", path)
    assert module_spec
    assert module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pb2() -> ModuleType:
    return load_model_config_pb2()


@pytest.fixture(scope="module")
def config(pb2: ModuleType):
    # text_format.Parse rejects unknown fields and malformed values, as Triton does.
    return text_format.Parse((MODEL_DIR / "config.pbtxt").read_text(), pb2.ModelConfig())


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    versions = sorted(
        (p for p in MODEL_DIR.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    assert versions, f"no version folder with a model.onnx under {MODEL_DIR}"
    return ort.InferenceSession(str(versions[-1] / "model.onnx"), providers=["CPUExecutionProvider"])


def test_config_names_the_model_folder_and_the_onnx_backend(config, pb2) -> None:
    assert config.name == contract.MODEL_NAME == MODEL_DIR.name  # Triton requires name == folder
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size > 0
    assert config.WhichOneof("scheduling_choice") in (None, "dynamic_batching")
    assert all(group.kind == pb2.ModelInstanceGroup.KIND_CPU for group in config.instance_group)
    policy = config.version_policy.WhichOneof("policy_choice")
    assert policy in (None, "latest", "all", "specific")
    for version in config.version_policy.specific.versions:
        assert (MODEL_DIR / str(version) / "model.onnx").is_file()


def tensor_check(pb2, declared, actual, max_batch_size: int) -> None:
    """One config tensor against one onnxruntime NodeArg."""
    assert declared.name == actual.name
    assert pb2.DataType.Name(declared.data_type) == ORT_TO_TRITON[actual.type], (declared, actual.type)
    batch, *rest = actual.shape
    # With max_batch_size > 0 Triton's dims leave out a leading, dynamic (named or unknown) batch dim.
    assert max_batch_size > 0
    assert not isinstance(batch, int), f"{actual.name}: batch dim {batch!r} is fixed"
    assert list(declared.dims) == rest


def test_inputs_and_outputs_match_the_onnx_graph(config, pb2, session) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    assert len(config.input) == len(inputs) == 1
    assert len(config.output) == len(outputs) == 2  # probabilities, digit_score
    tensor_check(pb2, config.input[0], inputs[0], config.max_batch_size)
    for declared, actual in zip(config.output, outputs, strict=True):
        tensor_check(pb2, declared, actual, config.max_batch_size)


def test_config_agrees_with_the_contract(config) -> None:
    assert config.input[0].name == contract.INPUT_NAME
    assert config.output[0].name == contract.OUTPUT_NAME
    assert tuple(config.input[0].dims) == contract.INPUT_SHAPE[1:]
    assert tuple(config.output[0].dims) == contract.OUTPUT_SHAPE[1:]
    assert config.output[1].name == contract.DIGIT_SCORE_NAME
    assert tuple(config.output[1].dims) == contract.DIGIT_SCORE_SHAPE[1:]


def test_the_graph_runs_at_triton_batch_sizes(config, session) -> None:
    for batch in (1, config.max_batch_size):
        pixels = np.random.default_rng(batch).random((batch, *config.input[0].dims), dtype=np.float32)
        probabilities, scores = session.run([o.name for o in config.output], {config.input[0].name: pixels})
        assert probabilities.shape == (batch, *config.output[0].dims)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
        assert scores.shape == (batch, *config.output[1].dims)
        assert np.all((scores >= 0) & (scores <= 1))
