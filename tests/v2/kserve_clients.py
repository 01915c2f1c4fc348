"""KServe's clients as a program of their own: ``kserve_clients.py HTTP_URL GRPC_ADDRESS IN.npy OUT.json``.

kserve's generated gRPC module registers the protocol's messages (package ``inference``) in protobuf's
default descriptor pool, as Triton's (tritonclient.grpc, which the service uses) does: the two cannot be
imported into one process. So test_v2_kserve.py runs KServe's real client classes here, in a process of
their own, against the live server, and checks what this program writes: health answers, the outputs
of each call, and the errors a bad request raised.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import grpc
import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig


def request(batch: np.ndarray, *, binary: bool, name: str = "image") -> InferRequest:
    tensor = InferInput(name=name, shape=list(batch.shape), datatype="FP32")
    tensor.set_data_from_numpy(batch, binary_data=binary)
    return InferRequest(model_name="digits", infer_inputs=[tensor], request_id="k1")


async def rest(url: str, batch: np.ndarray) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    try:
        found: dict[str, Any] = {
            "live": await client.is_server_live(url),
            "ready": await client.is_server_ready(url),
            "model_ready": await client.is_model_ready(url, "digits"),
            "outputs": {},
        }
        for binary in (True, False):
            response = await client.infer(url, request(batch, binary=binary), model_name="digits")
            found["outputs"][f"binary={binary}"] = response.outputs[0].as_numpy().tolist()
            found["id"] = response.id
        try:
            await client.infer(url, request(batch[:, :, :27], binary=False), model_name="digits")
        except httpx.HTTPStatusError as exc:
            found["bad_request"] = {"status": exc.response.status_code, "message": str(exc)}
        return found
    finally:
        await client.close()


async def grpc_calls(address: str, batch: np.ndarray) -> dict[str, Any]:
    async with InferenceGRPCClient(address, retries=0) as client:
        found: dict[str, Any] = {
            "live": await client.is_server_live(),
            "ready": await client.is_server_ready(),
            "model_ready": await client.is_model_ready("digits"),
            "outputs": {},
        }
        for binary in (True, False):
            response = await client.infer(request(batch, binary=binary))
            found["outputs"][f"binary={binary}"] = response.outputs[0].as_numpy().tolist()
            found["model_name"] = response.model_name
        try:
            await client.infer(request(batch, binary=True, name="pixels"))
        except grpc.aio.AioRpcError as exc:
            found["bad_request"] = {"status": exc.code().name, "message": exc.details()}
        found["ready_after"] = await client.is_server_ready()
        return found


def main() -> None:
    http_url, grpc_address, batch_path, out_path = sys.argv[1:5]
    batch = np.load(batch_path)
    results = {
        "rest": asyncio.run(rest(http_url, batch)),
        "grpc": asyncio.run(grpc_calls(grpc_address, batch)),
    }
    with open(out_path, "w") as out:
        json.dump(results, out)


if __name__ == "__main__":
    main()
