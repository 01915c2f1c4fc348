"""The V2 tests talk to a real `python -m service` over HTTP and gRPC: the suite's shared `live_server`.

That server runs with this process's environment plus its own host/port, so `Settings()` here reads the
same model path and limits it uses: the tests know the batch and body limits exactly, and run onnxruntime
on the very model file the server serves (the shipped `models/digits/3/model.onnx` unless
DIGITS_MODEL_PATH says otherwise).
"""

from __future__ import annotations

import onnxruntime as ort
import pytest
from v2_harness import V2Server

from service.settings import Settings


@pytest.fixture(scope="session")
def v2_server(live_server: str) -> V2Server:
    settings = Settings()
    return V2Server(
        url=str(live_server),
        host_port=live_server.removeprefix("http://"),
        grpc_host_port=f"127.0.0.1:{live_server.grpc_port}",
        model_path=settings.model_path,
        max_batch=settings.max_batch,
        max_body_bytes=settings.max_body_bytes,
    )


@pytest.fixture(scope="session")
def reference(v2_server: V2Server) -> ort.InferenceSession:
    """onnxruntime on the very model file the server serves: what every V2 answer is compared with."""
    return ort.InferenceSession(str(v2_server.model_path), providers=["CPUExecutionProvider"])
