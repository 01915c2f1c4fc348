"""KServe's own Python clients, unmodified: InferenceRESTClient (protocol v2) and InferenceGRPCClient.

Health (the REST client reads `{"live": true}` / `{"ready": true}`), inference with binary and JSON
tensors, answers identical to onnxruntime, and a bad request surfacing as the client's error.
"""

from __future__ import annotations

import asyncio

import grpc
import httpx
import numpy as np
import onnxruntime as ort
import pytest
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from v2_harness import V2Server

import contract

pytestmark = pytest.mark.e2e


def batch_of(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float32)


def request(batch: np.ndarray, *, binary: bool, name: str = "image") -> InferRequest:
    tensor = InferInput(name=name, shape=list(batch.shape), datatype="FP32")
    tensor.set_data_from_numpy(batch, binary_data=binary)
    return InferRequest(model_name="digits", infer_inputs=[tensor], request_id="k1")


def test_rest_client(v2_server: V2Server, reference: ort.InferenceSession) -> None:
    batch = batch_of(3, seed=21)
    want = reference.run(None, {contract.INPUT_NAME: batch})[0]

    async def run() -> tuple[bool, bool, bool, list[np.ndarray]]:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            live = await client.is_server_live(v2_server.url)
            ready = await client.is_server_ready(v2_server.url)
            model_ready = await client.is_model_ready(v2_server.url, "digits")
            outputs = []
            for binary in (True, False):
                response = await client.infer(
                    v2_server.url, request(batch, binary=binary), model_name="digits"
                )
                assert response.id == "k1"
                outputs.append(response.outputs[0].as_numpy())
            with pytest.raises(httpx.HTTPStatusError, match="must have shape"):
                await client.infer(
                    v2_server.url, request(batch[:, :, :27], binary=False), model_name="digits"
                )
            return live, ready, model_ready, outputs
        finally:
            await client.close()

    live, ready, model_ready, outputs = asyncio.run(run())
    assert (live, ready, model_ready) == (True, True, True)
    for got in outputs:
        np.testing.assert_array_equal(got.reshape(3, 10), want)


def test_grpc_client(v2_server: V2Server, reference: ort.InferenceSession) -> None:
    batch = batch_of(2, seed=22)
    want = reference.run(None, {contract.INPUT_NAME: batch})[0]

    async def run() -> tuple[bool, bool, bool, list[np.ndarray]]:
        async with InferenceGRPCClient(v2_server.grpc_host_port, retries=0) as client:
            live = await client.is_server_live()
            ready = await client.is_server_ready()
            model_ready = await client.is_model_ready("digits")
            outputs = []
            for binary in (True, False):
                response = await client.infer(request(batch, binary=binary))
                assert response.model_name == "digits"
                outputs.append(response.outputs[0].as_numpy())
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await client.infer(request(batch, binary=True, name="pixels"))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert await client.is_server_ready()
            return live, ready, model_ready, outputs

    live, ready, model_ready, outputs = asyncio.run(run())
    assert (live, ready, model_ready) == (True, True, True)
    for got in outputs:
        np.testing.assert_array_equal(got.reshape(2, 10), want)
