"""The V2 wire format over raw HTTP (httpx): framing by hand, health bodies, and malformed requests.

Every malformed request must answer a 4xx with the protocol's {"error": "..."} body naming the problem;
never a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from repo_files import SHIPPED_MODEL
from v2_harness import V2Server

import contract

pytestmark = pytest.mark.e2e

INFER = "/v2/models/digits/infer"
HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def http(v2_server: V2Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=v2_server.url, timeout=30.0) as client:
        yield client


def images(n: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float32)


def image_input(batch: np.ndarray, **fields: Any) -> dict[str, Any]:
    tensor = {"name": "image", "shape": list(batch.shape), "datatype": "FP32", "data": batch.ravel().tolist()}
    tensor.update(fields)
    return tensor


def binary_request(
    header: dict[str, Any], chunks: list[bytes], length: str | None = None
) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(chunks), {HEADER: str(len(head)) if length is None else length}


def assert_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert fragment in body["error"], body["error"]


# ------------------------------------------------------------------------------------------- happy paths


def test_health_answers_kserve_bodies_on_get_and_head(http: httpx.Client) -> None:
    bodies = {
        "/v2/health/live": {"live": True},
        "/v2/health/ready": {"ready": True},
        "/v2/models/digits/ready": {"name": "digits", "ready": True},
        f"/v2/models/digits/versions/{SHIPPED_MODEL.parent.name}/ready": {"name": "digits", "ready": True},
    }
    for path, body in bodies.items():
        response = http.get(path)
        assert (response.status_code, response.json()) == (200, body), path
        head = http.head(path)
        assert (head.status_code, head.content) == (200, b""), path
    for path in ("/v2/models/nope/ready", "/v2/models/digits/versions/no-such-version/ready"):
        assert_error(http.get(path), 404, "unknown")
        assert http.head(path).status_code == 404, path


def test_json_request_nested_or_flat_gives_the_model_output(
    http: httpx.Client, reference: ort.InferenceSession
) -> None:
    batch = images(3, seed=1)
    want, want_scores = reference.run(None, {contract.INPUT_NAME: batch})
    nested = image_input(batch, data=batch.tolist())
    for tensor in (image_input(batch), nested):
        response = http.post(INFER, json={"id": "x1", "inputs": [tensor]})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert HEADER not in response.headers
        body = response.json()
        assert body["id"] == "x1"
        output, score = body["outputs"]  # no `outputs` asked: all of the model's, in the graph's order
        assert (output["name"], output["datatype"], output["shape"]) == ("probabilities", "FP32", [3, 10])
        got = np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert (score["name"], score["datatype"], score["shape"]) == (
            contract.DIGIT_SCORE_NAME,
            "FP32",
            [3, 1],
        )
        np.testing.assert_allclose(
            np.asarray(score["data"], np.float32).reshape(3, 1), want_scores, atol=1e-5
        )


def test_binary_framing_by_hand(http: httpx.Client, reference: ort.InferenceSession) -> None:
    """The extension's exact bytes: JSON, then little-endian FP32 row-major; the response framed alike."""
    batch = images(2, seed=2)
    raw = batch.astype("<f4").tobytes()
    body, headers = binary_request(
        {
            "inputs": [image_input(batch, data=None, parameters={"binary_data_size": len(raw)})],
            "parameters": {"binary_data_output": True},
        },
        [raw],
    )
    response = http.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers[HEADER])
    header = json.loads(response.content[:length])
    output, score = header["outputs"]
    assert output["parameters"] == {"binary_data_size": 2 * 10 * 4}
    assert score["parameters"] == {"binary_data_size": 2 * 1 * 4}
    assert "data" not in output
    assert len(response.content) == length + 80 + 8
    want, want_scores = reference.run(None, {contract.INPUT_NAME: batch})
    got = np.frombuffer(response.content[length : length + 80], dtype="<f4").reshape(output["shape"])
    np.testing.assert_allclose(got, want, atol=1e-5)
    got_scores = np.frombuffer(response.content[length + 80 :], dtype="<f4").reshape(score["shape"])
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)


def test_per_output_binary_flag_overrides_request_default(http: httpx.Client) -> None:
    batch = images(1)
    request = {
        "inputs": [image_input(batch)],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}],
        "parameters": {"binary_data_output": True},
    }
    response = http.post(INFER, json=request)
    assert response.status_code == 200
    assert "data" in response.json()["outputs"][0]


def test_one_output_asked_for_is_the_one_returned(
    http: httpx.Client, reference: ort.InferenceSession
) -> None:
    batch = images(2, seed=4)
    request = {"inputs": [image_input(batch)], "outputs": [{"name": contract.DIGIT_SCORE_NAME}]}
    response = http.post(INFER, json=request)
    assert response.status_code == 200, response.text
    (score,) = response.json()["outputs"]
    assert (score["name"], score["shape"]) == (contract.DIGIT_SCORE_NAME, [2, 1])
    want = reference.run([contract.DIGIT_SCORE_NAME], {contract.INPUT_NAME: batch})[0]
    np.testing.assert_allclose(np.asarray(score["data"], np.float32).reshape(2, 1), want, atol=1e-5)


def test_inference_is_counted_in_the_metrics_like_predict(
    http: httpx.Client, reference: ort.InferenceSession
) -> None:
    """V2 makes the same model call as /predict: one call of batch 3, three predictions by label."""

    def counters() -> dict[str, float]:
        wanted = (
            "digits_predictions_total",
            "digits_inference_batch_size_count",
            "digits_inference_batch_size_sum",
        )
        values: dict[str, float] = {}
        for line in http.get("/metrics").text.splitlines():
            if line.startswith(wanted):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    batch = images(3, seed=3)
    labels = np.argmax(reference.run(None, {contract.INPUT_NAME: batch})[0], axis=1)
    before = counters()
    assert http.post(INFER, json={"inputs": [image_input(batch)]}).status_code == 200
    after = counters()
    assert (
        after["digits_inference_batch_size_count"] - before.get("digits_inference_batch_size_count", 0) == 1
    )
    assert after["digits_inference_batch_size_sum"] - before.get("digits_inference_batch_size_sum", 0) == 3
    for label in set(labels.tolist()):
        key = f'digits_predictions_total{{label="{label}"}}'
        assert after[key] - before.get(key, 0) == np.count_nonzero(labels == label)


def test_no_id_no_id_echoed(http: httpx.Client) -> None:
    response = http.post(INFER, json={"inputs": [image_input(images(1))]})
    assert response.status_code == 200
    assert "id" not in response.json()


# ----------------------------------------------------------------------------------------- malformed


def _binary_body(length: str | None = None, cut: int = 0, extra: bytes = b"") -> tuple[bytes, dict[str, str]]:
    batch = images(1)
    raw = batch.tobytes()
    return binary_request(
        {"inputs": [image_input(batch, data=None, parameters={"binary_data_size": len(raw)})]},
        [raw[: len(raw) - cut] + extra],
        length,
    )


@pytest.mark.parametrize(
    ("length", "fragment"),
    [
        ("abc", "must be a non-negative integer, got 'abc'"),
        ("-5", "must be a non-negative integer, got '-5'"),
        ("12.5", "must be a non-negative integer"),
        ("999999999", "is 999999999 but the request body has only"),
        ("10", "not valid JSON"),
    ],
)
def test_bad_header_length(http: httpx.Client, length: str, fragment: str) -> None:
    body, headers = _binary_body(length)
    assert_error(http.post(INFER, content=body, headers=headers), 400, fragment)


def test_truncated_binary_data(http: httpx.Client) -> None:
    body, headers = _binary_body(cut=100)
    assert_error(http.post(INFER, content=body, headers=headers), 400, "binary tensor data is truncated")


def test_trailing_bytes_after_binary_data(http: httpx.Client) -> None:
    body, headers = _binary_body(extra=b"\x00\x00\x00\x00")
    assert_error(http.post(INFER, content=body, headers=headers), 400, "4 bytes follow the JSON")


def test_binary_data_without_the_header(http: httpx.Client) -> None:
    body, _ = _binary_body()
    assert_error(http.post(INFER, content=body), 400, "not valid JSON")
    head = json.dumps({"inputs": [image_input(images(1), data=None, parameters={"binary_data_size": 3136})]})
    assert_error(http.post(INFER, content=head), 400, "no binary data follows the JSON")


def test_binary_size_not_matching_the_shape(http: httpx.Client) -> None:
    raw = images(1).tobytes()
    tensor = image_input(images(2), data=None, parameters={"binary_data_size": len(raw)})
    body, headers = binary_request({"inputs": [tensor]}, [raw])
    assert_error(
        http.post(INFER, content=body, headers=headers), 400, "binary_data_size is 3136 bytes but shape"
    )


def _json_error_cases() -> list[tuple[str, Any, str]]:
    one = images(1)
    good = image_input(one)
    return [
        (
            "wrong datatype",
            {"inputs": [image_input(one, datatype="FP64")]},
            "must have datatype FP32, got 'FP64'",
        ),
        ("uint8 datatype", {"inputs": [image_input(one, datatype="UINT8")]}, "must have datatype FP32"),
        (
            "wrong shape",
            {"inputs": [image_input(one, shape=[1, 28, 28])]},
            "must have shape ['N', 1, 28, 28]",
        ),
        ("wrong channels", {"inputs": [image_input(one, shape=[1, 3, 28, 28])]}, "got [1, 3, 28, 28]"),
        ("zero batch", {"inputs": [image_input(one, shape=[0, 1, 28, 28], data=[])]}, "must be at least 1"),
        ("count", {"inputs": [image_input(one, data=[0.5] * 783)]}, "data has 783 elements"),
        ("count batch", {"inputs": [image_input(one, shape=[2, 1, 28, 28])]}, "needs 1568 elements"),
        ("wrong name", {"inputs": [{**good, "name": "input0"}]}, "takes exactly one input 'image'"),
        ("two inputs", {"inputs": [good, good]}, "takes exactly one input 'image', got ['image', 'image']"),
        ("no inputs", {"inputs": []}, "inputs"),
        ("no data", {"inputs": [image_input(one, data=None)]}, "has no data"),
        ("strings", {"inputs": [image_input(one, data=["0.5"] * 784)]}, "must hold FP32 values"),
        ("nulls", {"inputs": [image_input(one, data=[None] * 784)]}, "must hold FP32 values"),
        ("ragged", {"inputs": [image_input(one, data=[[0.5] * 28] * 27 + [[0.5]])]}, "not a rectangular"),
        ("too big", {"inputs": [image_input(one, data=[2.0] * 784)]}, "values must be in [0, 1]"),
        ("negative", {"inputs": [image_input(one, data=[-0.1] * 784)]}, "values must be in [0, 1]"),
        ("overflow", {"inputs": [image_input(one, data=[1e300] * 784)]}, "NaN or infinite"),
        ("shape type", {"inputs": [image_input(one, shape="1,1,28,28")]}, "inputs.0.shape"),
        ("id type", {"id": 7, "inputs": [good]}, "id"),
        ("unknown output", {"inputs": [good], "outputs": [{"name": "logits"}]}, "unknown output 'logits'"),
        (
            "twice",
            {"inputs": [good], "outputs": [{"name": "probabilities"}] * 2},
            "output 'probabilities' is requested twice",
        ),
        (
            "binary flag type",
            {"inputs": [good], "outputs": [{"name": "probabilities", "parameters": {"binary_data": "yes"}}]},
            "parameter 'binary_data' must be true or false",
        ),
        (
            "classification count",
            {"inputs": [good], "outputs": [{"name": "probabilities", "parameters": {"classification": 11}}]},
            "parameter 'classification' must be an integer from 1 to 10",
        ),
        (
            "classification type",
            {"inputs": [good], "outputs": [{"name": "probabilities", "parameters": {"classification": "3"}}]},
            "parameter 'classification' must be an integer",
        ),
        (
            "shared memory",
            {"inputs": [image_input(one, parameters={"shared_memory_region": "r"})]},
            "shared memory extension is not supported",
        ),
        (
            "data and binary",
            {"inputs": [image_input(one, parameters={"binary_data_size": 3136})]},
            "has both 'data' and parameters.binary_data_size",
        ),
        ("not an object", [good], "must be an object, got list"),
        ("a number", 42, "must be an object, got int"),
    ]


@pytest.mark.parametrize(
    ("request_json", "fragment"),
    [pytest.param(body, fragment, id=case) for case, body, fragment in _json_error_cases()],
)
def test_malformed_json_requests(http: httpx.Client, request_json: Any, fragment: str) -> None:
    assert_error(http.post(INFER, json=request_json), 400, fragment)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"", "request body is empty"), (b"{", "not valid JSON"), (b'{"inputs": NaN}', "not valid JSON")],
)
def test_unparseable_bodies(http: httpx.Client, body: bytes, fragment: str) -> None:
    assert_error(http.post(INFER, content=body), 400, fragment)


def test_batch_over_the_limit(http: httpx.Client, v2_server: V2Server) -> None:
    batch = images(v2_server.max_batch + 1)
    raw = batch.tobytes()
    body, headers = binary_request(
        {"inputs": [image_input(batch, data=None, parameters={"binary_data_size": len(raw)})]}, [raw]
    )
    assert len(body) < v2_server.max_body_bytes  # the batch limit, not the body limit, must answer
    response = http.post(INFER, content=body, headers=headers)
    assert_error(response, 400, f"over this server's limit of {v2_server.max_batch}")
    at_limit = batch[:-1]
    body, headers = binary_request(
        {"inputs": [image_input(at_limit, data=None, parameters={"binary_data_size": len(raw) - 3136})]},
        [raw[:-3136]],
    )
    response = http.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert json.loads(response.content)["outputs"][0]["shape"] == [v2_server.max_batch, 10]


def test_body_over_the_size_limit(http: httpx.Client, v2_server: V2Server) -> None:
    body = b'{"inputs": [' + b" " * v2_server.max_body_bytes + b"]}"
    assert_error(http.post(INFER, content=body), 413, f"limit of {v2_server.max_body_bytes} bytes")


def test_compressed_bomb_and_unknown_encoding(http: httpx.Client, v2_server: V2Server) -> None:
    import gzip

    bomb = gzip.compress(b" " * (v2_server.max_body_bytes + 1))
    response = http.post(INFER, content=bomb, headers={"Content-Encoding": "gzip"})
    assert_error(response, 413, "decompressed request body is over the limit")
    response = http.post(INFER, content=b"{}", headers={"Content-Encoding": "br"})
    assert_error(response, 415, "unsupported Content-Encoding 'br'")


@pytest.mark.parametrize(
    ("method", "path", "status", "fragment"),
    [
        ("POST", "/v2/models/mnist/infer", 404, "unknown model 'mnist'"),
        (
            "POST",
            "/v2/models/digits/versions/no-such-version/infer",
            404,
            "unknown version 'no-such-version'",
        ),
        ("GET", "/v2/models/mnist", 404, "unknown model 'mnist'"),
        ("GET", "/v2/models/mnist/config", 404, "unknown model 'mnist'"),
        ("GET", "/v2/models/mnist/stats", 404, "unknown model 'mnist'"),
        ("GET", "/v2/trace/setting", 404, "not part of this server's V2 API"),
        ("POST", "/v2/systemsharedmemory/status", 404, "not part of this server's V2 API"),
        ("GET", INFER, 405, "use POST"),
        ("DELETE", "/v2/health/live", 405, "DELETE is not allowed on /v2/health/live"),
        ("POST", "/v2/models/digits/ready", 405, "POST is not allowed"),
        ("GET", "/v2/repository/index", 405, "GET is not allowed"),
    ],
)
def test_unknown_routes_answer_in_the_v2_shape(
    http: httpx.Client, method: str, path: str, status: int, fragment: str
) -> None:
    assert_error(http.request(method, path, json={}), status, fragment)
