"""tritonclient's HTTP client, unmodified, against the running service: health, metadata, infer.

Probabilities are compared with onnxruntime run directly on the same model file and the same input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException
from v2_harness import V2Server

import contract

pytestmark = pytest.mark.e2e

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def client(v2_server: V2Server) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(url=v2_server.host_port) as client:
        yield client


@pytest.fixture(scope="module")
def card_version(reference: ort.InferenceSession) -> str:
    return reference.get_modelmeta().custom_metadata_map["version"]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """A batch as the contract defines it: float32 [N, 1, 28, 28] in [0, 1] (random strokes and blanks)."""
    rng = np.random.default_rng(5)
    batch = rng.random((7, 1, 28, 28), dtype=np.float32)
    batch[0] = 0.0
    batch[1] = (batch[1] > 0.8).astype(np.float32)
    return batch


def expected(reference: ort.InferenceSession, images: np.ndarray) -> np.ndarray:
    return reference.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: images})[0]


def test_health(client: triton.InferenceServerClient, card_version: str) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("digits")
    assert client.is_model_ready("digits", card_version)
    assert not client.is_model_ready("no-such-model")
    assert not client.is_model_ready("digits", card_version + "0")


def test_server_metadata(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata["name"] == "digits-service"
    assert metadata["version"]
    assert "binary_tensor_data" in metadata["extensions"]


@pytest.mark.parametrize("versioned", [False, True])
def test_model_metadata_lists_the_real_tensors(
    client: triton.InferenceServerClient, reference: ort.InferenceSession, card_version: str, versioned: bool
) -> None:
    metadata = client.get_model_metadata("digits", card_version if versioned else "")
    assert metadata["name"] == "digits"
    assert metadata["versions"] == [card_version]
    assert metadata["platform"] == "onnxruntime_onnx"
    (model_input,) = reference.get_inputs()
    model_output, score_output = reference.get_outputs()  # probabilities, digit_score (version 2 on)
    assert metadata["inputs"] == [{"name": model_input.name, "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert metadata["outputs"] == [
        {"name": model_output.name, "datatype": "FP32", "shape": [-1, 10]},
        {"name": score_output.name, "datatype": "FP32", "shape": [-1, 1]},
    ]
    assert model_input.type == model_output.type == score_output.type == "tensor(float)"
    assert model_input.shape[1:] == [1, 28, 28]
    assert model_output.shape[1:] == [10]
    assert score_output.shape[1:] == [1]


def test_metadata_of_unknown_model_or_version_is_404(
    client: triton.InferenceServerClient, card_version: str
) -> None:
    with pytest.raises(InferenceServerException, match="unknown model 'nope'") as info:
        client.get_model_metadata("nope")
    assert info.value.status() == "404"
    with pytest.raises(InferenceServerException, match="unknown version") as info:
        client.get_model_metadata("digits", card_version + "0")
    assert info.value.status() == "404"


@pytest.mark.parametrize("binary_input", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("output", [None, True, False], ids=["default-out", "binary-out", "json-out"])
def test_infer_matches_the_model(
    client: triton.InferenceServerClient,
    reference: ort.InferenceSession,
    images: np.ndarray,
    binary_input: bool,
    output: bool | None,
) -> None:
    model_input = triton.InferInput("image", list(images.shape), "FP32")
    model_input.set_data_from_numpy(images, binary_data=binary_input)
    outputs = None if output is None else [triton.InferRequestedOutput("probabilities", binary_data=output)]

    result = client.infer("digits", [model_input], outputs=outputs, request_id="req-42")

    response = result.get_response()
    assert response["id"] == "req-42"
    assert response["model_name"] == "digits"
    tensor = result.get_output("probabilities")
    assert tensor["datatype"] == "FP32"
    assert tensor["shape"] == [len(images), 10]
    as_binary = output is not False  # tritonclient asks for binary outputs unless told otherwise
    assert ("parameters" in tensor and "binary_data_size" in tensor["parameters"]) == as_binary
    assert ("data" in tensor) == (not as_binary)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected(reference, images), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


def test_infer_versioned_single_image_and_compressed_request(
    client: triton.InferenceServerClient,
    reference: ort.InferenceSession,
    images: np.ndarray,
    card_version: str,
) -> None:
    one = images[2:3]
    model_input = triton.InferInput("image", [1, 1, 28, 28], "FP32").set_data_from_numpy(one)
    for compression in (None, "gzip", "deflate"):
        result = client.infer(
            "digits", [model_input], model_version=card_version, request_compression_algorithm=compression
        )
        assert result.get_response()["model_version"] == card_version
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected(reference, one), atol=TOLERANCE)


def test_infer_errors_reach_tritonclient_as_messages(
    client: triton.InferenceServerClient, images: np.ndarray
) -> None:
    good = triton.InferInput("image", list(images.shape), "FP32").set_data_from_numpy(images)
    with pytest.raises(InferenceServerException, match="unknown output 'logits'") as info:
        client.infer("digits", [good], outputs=[triton.InferRequestedOutput("logits")])
    assert info.value.status() == "400"
    with pytest.raises(InferenceServerException, match="unknown model 'mnist'") as info:
        client.infer("mnist", [good])
    assert info.value.status() == "404"
    wrong_name = triton.InferInput("pixels", list(images.shape), "FP32").set_data_from_numpy(images)
    with pytest.raises(InferenceServerException, match="takes exactly one input 'image'") as info:
        client.infer("digits", [wrong_name])
    assert info.value.status() == "400"
    as_double = triton.InferInput("image", list(images.shape), "FP64")
    as_double.set_data_from_numpy(images.astype(np.float64))
    with pytest.raises(InferenceServerException, match="must have datatype FP32, got 'FP64'") as info:
        client.infer("digits", [as_double])
    assert info.value.status() == "400"


def test_asyncio_client_too(v2_server: V2Server, reference: ort.InferenceSession, images: np.ndarray) -> None:
    """tritonclient.http.aio (aiohttp) frames requests and reads responses the same way."""
    import tritonclient.http.aio as triton_aio

    async def run() -> tuple[bool, np.ndarray, np.ndarray]:
        client = triton_aio.InferenceServerClient(url=v2_server.host_port)
        try:
            ready = await client.is_model_ready("digits")
            results = []
            for binary in (True, False):
                model_input = triton_aio.InferInput("image", list(images.shape), "FP32")
                model_input.set_data_from_numpy(images, binary_data=binary)
                output = triton_aio.InferRequestedOutput("probabilities", binary_data=binary)
                result = await client.infer("digits", [model_input], outputs=[output])
                results.append(result.as_numpy("probabilities"))
            return ready, results[0], results[1]
        finally:
            await client.close()

    ready, from_binary, from_json = asyncio.run(run())
    assert ready
    want = expected(reference, images)
    np.testing.assert_allclose(from_binary, want, atol=TOLERANCE)
    np.testing.assert_allclose(from_json, want, atol=TOLERANCE)
