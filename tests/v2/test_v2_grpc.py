"""gRPC with tritonclient.grpc, unmodified (sync and asyncio), against the running service's gRPC port.

Health, metadata, inference (identical to /predict and to onnxruntime), the extensions, and every kind
of bad request answered with the right status code and a clear message, the server healthy after.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from repo_files import SHIPPED_MODEL
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException
from v2_harness import V2Server

import contract

VERSION = SHIPPED_MODEL.parent.name  # the served model's version: its folder in models/digits

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(v2_server: V2Server) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(url=v2_server.grpc_host_port) as client:
        yield client


@pytest.fixture(scope="module")
def stub(v2_server: V2Server) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    """Triton's generated stub, for requests tritonclient would never build."""
    with grpc.insecure_channel(v2_server.grpc_host_port) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def pixels(n: int, seed: int) -> np.ndarray:
    """MNIST-format pixels (0..255), the form /predict takes as JSON."""
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28)).astype(np.float32)


def image(batch: np.ndarray, name: str = "image", datatype: str = "FP32") -> triton.InferInput:
    tensor = triton.InferInput(name, list(batch.shape), datatype)
    tensor.set_data_from_numpy(batch)
    return tensor


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("digits")
    assert client.is_model_ready("digits", VERSION)
    assert not client.is_model_ready("mnist")
    assert not client.is_model_ready("digits", str(int(VERSION) + 1))
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "digits-service"
    assert server["extensions"] == [
        "binary_tensor_data",
        "classification",
        "model_configuration",
        "model_repository",
        "statistics",
    ]
    model = client.get_model_metadata("digits", as_json=True)
    assert (model["name"], model["versions"], model["platform"]) == ("digits", [VERSION], "onnxruntime_onnx")
    assert model["inputs"] == [{"name": "image", "datatype": "FP32", "shape": ["-1", "1", "28", "28"]}]
    assert model["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": ["-1", "10"]},
        {"name": "digit_score", "datatype": "FP32", "shape": ["-1", "1"]},
    ]


def test_infer_is_identical_to_predict_and_onnxruntime(
    client: triton.InferenceServerClient, reference: ort.InferenceSession, v2_server: V2Server
) -> None:
    grids = pixels(3, seed=7)
    batch = contract.to_model_input(grids)
    result = client.infer("digits", [image(batch)], request_id="g1")
    got = result.as_numpy("probabilities")
    assert result.get_response().id == "g1"
    assert result.get_response().model_version == VERSION
    ids = result.get_response().parameters["prediction_id"].string_param.split(",")
    assert len(ids) == 3
    assert len(set(ids)) == 3
    np.testing.assert_array_equal(got, reference.run(None, {contract.INPUT_NAME: batch})[0])
    for grid, row in zip(grids, got, strict=True):
        predicted = httpx.post(f"{v2_server.url}/predict", json={"pixels": grid.astype(int).tolist()}).json()
        np.testing.assert_array_equal(np.array(predicted["probabilities"], np.float32), row)
        assert predicted["label"] == int(np.argmax(row))


def test_typed_contents_work_like_raw_contents(
    stub: service_pb2_grpc.GRPCInferenceServiceStub, reference: ort.InferenceSession
) -> None:
    batch = contract.to_model_input(pixels(2, seed=8))
    request = service_pb2.ModelInferRequest(model_name="digits")
    tensor = request.inputs.add(name="image", datatype="FP32", shape=[2, 1, 28, 28])
    tensor.contents.fp32_contents.extend(batch.ravel().tolist())
    response = stub.ModelInfer(request)
    got = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(2, 10)
    np.testing.assert_array_equal(got, reference.run(None, {contract.INPUT_NAME: batch})[0])


def test_asyncio_client(v2_server: V2Server, reference: ort.InferenceSession) -> None:
    batch = contract.to_model_input(pixels(4, seed=9))

    async def run() -> tuple[bool, bool, list[np.ndarray]]:
        async with triton_aio.InferenceServerClient(url=v2_server.grpc_host_port) as client:
            live, ready = await client.is_server_live(), await client.is_model_ready("digits")
            results = await asyncio.gather(*(client.infer("digits", [image(batch)]) for _ in range(8)))
            return live, ready, [result.as_numpy("probabilities") for result in results]

    live, ready, outputs = asyncio.run(run())
    assert live
    assert ready
    want = reference.run(None, {contract.INPUT_NAME: batch})[0]
    for got in outputs:
        np.testing.assert_array_equal(got, want)


def test_extensions(client: triton.InferenceServerClient, reference: ort.InferenceSession) -> None:
    batch = contract.to_model_input(pixels(2, seed=10))
    asked = triton.InferRequestedOutput("probabilities", class_count=2)
    classes = client.infer("digits", [image(batch)], outputs=[asked]).as_numpy("probabilities")
    want = reference.run(None, {contract.INPUT_NAME: batch})[0]
    assert classes.shape == (2, 2)
    for row, top in zip(want, classes, strict=True):
        order = np.argsort(-row, kind="stable")[:2]
        assert [item.decode() for item in top] == [f"{row[i]:f}:{i}" for i in order]

    config = client.get_model_config("digits", as_json=True)["config"]
    assert (config["name"], config["platform"]) == ("digits", "onnxruntime_onnx")
    assert config["input"] == [{"name": "image", "data_type": "TYPE_FP32", "dims": ["1", "28", "28"]}]
    assert config["output"] == [
        {"name": "probabilities", "data_type": "TYPE_FP32", "dims": ["10"]},
        {"name": "digit_score", "data_type": "TYPE_FP32", "dims": ["1"]},
    ]

    stats = client.get_inference_statistics("digits", as_json=True)["model_stats"]
    assert [(stat["name"], stat["version"]) for stat in stats] == [("digits", VERSION)]
    assert int(stats[0]["inference_count"]) >= 2
    assert int(stats[0]["inference_stats"]["compute_infer"]["count"]) >= 1

    index = client.get_model_repository_index(as_json=True)["models"]
    assert index == [{"name": "digits", "version": VERSION, "state": "READY"}]
    with pytest.raises(InferenceServerException, match="set DIGITS_API_KEY") as info:
        client.unload_model("digits")
    assert info.value.status() == "StatusCode.PERMISSION_DENIED"


def _ok_batch(n: int = 1) -> np.ndarray:
    return np.zeros((n, 1, 28, 28), np.float32)


BAD_REQUESTS = [
    (
        "wrong shape",
        "digits",
        lambda _: [image(np.zeros((1, 1, 28, 27), np.float32))],
        "INVALID_ARGUMENT",
        "shape",
    ),
    (
        "wrong datatype",
        "digits",
        lambda _: [image(np.zeros((1, 1, 28, 28), np.int32), datatype="INT32")],
        "INVALID_ARGUMENT",
        "datatype FP32",
    ),
    (
        "wrong name",
        "digits",
        lambda _: [image(_ok_batch(), name="pixels")],
        "INVALID_ARGUMENT",
        "exactly one input",
    ),
    ("out of range", "digits", lambda _: [image(_ok_batch() + 2)], "INVALID_ARGUMENT", "[0, 1]"),
    ("unknown model", "mnist", lambda _: [image(_ok_batch())], "NOT_FOUND", "unknown model 'mnist'"),
    (
        "batch limit",
        "digits",
        lambda server: [image(_ok_batch(server.max_batch + 1))],
        "RESOURCE_EXHAUSTED",
        "DIGITS_MAX_BATCH",
    ),
    (
        "too large",
        "digits",
        lambda server: [image(_ok_batch(server.max_body_bytes // 3136 + 1))],
        "RESOURCE_EXHAUSTED",
        "larger than max",
    ),
]


@pytest.mark.parametrize(
    ("model", "inputs", "code", "fragment"),
    [
        pytest.param(model, inputs, code, fragment, id=case)
        for case, model, inputs, code, fragment in BAD_REQUESTS
    ],
)
def test_bad_requests_get_the_right_status_and_leave_the_server_healthy(
    client: triton.InferenceServerClient, v2_server: V2Server, model: str, inputs, code: str, fragment: str
) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.infer(model, inputs(v2_server))
    assert info.value.status() == f"StatusCode.{code}"
    assert fragment in info.value.message()
    assert client.is_server_ready()
    assert client.infer("digits", [image(_ok_batch())]).as_numpy("probabilities").shape == (1, 10)


def test_malformed_messages(
    client: triton.InferenceServerClient, stub: service_pb2_grpc.GRPCInferenceServiceStub
) -> None:
    raw = _ok_batch().tobytes()
    two_raw = service_pb2.ModelInferRequest(model_name="digits", raw_input_contents=[raw, raw])
    two_raw.inputs.add(name="image", datatype="FP32", shape=[1, 1, 28, 28])
    both = service_pb2.ModelInferRequest(model_name="digits", raw_input_contents=[raw])
    both.inputs.add(name="image", datatype="FP32", shape=[1, 1, 28, 28]).contents.fp32_contents.append(0.0)
    short = service_pb2.ModelInferRequest(model_name="digits", raw_input_contents=[raw[:-4]])
    short.inputs.add(name="image", datatype="FP32", shape=[1, 1, 28, 28])
    no_inputs = service_pb2.ModelInferRequest(model_name="digits")
    classes = service_pb2.ModelInferRequest(model_name="digits", raw_input_contents=[raw])
    classes.inputs.add(name="image", datatype="FP32", shape=[1, 1, 28, 28])
    classes.outputs.add(name="probabilities").parameters["classification"].int64_param = 0
    cases = [
        (two_raw, "2 entries for 1 inputs"),
        (both, "both contents and raw_input_contents"),
        (short, "needs 3136"),
        (no_inputs, "inputs"),
        (classes, "integer from 1 to 10"),
    ]
    for request, fragment in cases:
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
        assert fragment in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="digits", version="7"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        stub.TraceSetting(service_pb2.TraceSettingRequest())
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED  # not advertised, not served
    assert "the trace extension is not supported" in info.value.details()
    assert client.is_server_ready()


def test_grpc_calls_are_counted_in_metrics_and_logged(
    client: triton.InferenceServerClient, v2_server: V2Server, live_server: Any
) -> None:
    client.is_server_live()
    with pytest.raises(InferenceServerException):
        client.infer("digits", [image(_ok_batch(), name="pixels")])
    text = httpx.get(f"{v2_server.url}/metrics").text
    assert 'digits_grpc_requests_total{code="OK",method="ServerLive"}' in text
    assert 'digits_grpc_requests_total{code="INVALID_ARGUMENT",method="ModelInfer"}' in text
    lines = [json.loads(line) for line in live_server.log().splitlines() if line.startswith("{")]
    calls = [
        line for line in lines if line.get("logger") == "service.access" and line.get("transport") == "grpc"
    ]
    invalid = [
        line for line in calls if line["method"] == "ModelInfer" and line["status"] == "INVALID_ARGUMENT"
    ]
    assert invalid
    assert invalid[-1]["path"] == "/inference.GRPCInferenceService/ModelInfer"
    assert invalid[-1]["client"] == "127.0.0.1"
    assert invalid[-1]["latency_ms"] >= 0
    assert "Traceback" not in live_server.log()  # no call, bad or unimplemented, was an unexpected error


def test_a_busy_grpc_port_stops_startup_with_one_clear_line(start_server: Any, live_server: Any) -> None:
    taken = start_server(env={"DIGITS_GRPC_PORT": str(live_server.grpc_port)}, wait_ready=False)
    assert taken.process.wait(60) == 2
    assert f"the gRPC port 127.0.0.1:{live_server.grpc_port} is not free" in taken.log()
