"""A real `python -m service` for the V2 tests, started once with small known limits.

The V2 tests own their server (instead of a shared one) because they test the batch and body-size
limits, which must be known exactly. The model is the one the service would serve
(`Settings().model_path`: the shipped `models/digits/1/model.onnx` unless DIGITS_MODEL_PATH says otherwise);
the tests run onnxruntime on the same file as the reference.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from v2_harness import V2Server

from service.settings import Settings

MAX_BATCH = 16
MAX_BODY_BYTES = 256 * 1024  # a batch of 16 images as binary is 50 KiB; as JSON about 250 KiB at most
STARTUP_TIMEOUT = 60.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def v2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Server]:
    model_path = Settings().model_path
    port = _free_port()
    env = {
        **os.environ,
        "DIGITS_HOST": "127.0.0.1",
        "DIGITS_PORT": str(port),
        "DIGITS_MODEL_PATH": str(model_path),
        "DIGITS_MAX_BATCH": str(MAX_BATCH),
        "DIGITS_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "DIGITS_WORKERS": "1",
        "DIGITS_ACCESS_LOG": "false",
    }
    log_path = tmp_path_factory.mktemp("v2_server") / "server.log"
    log_file = log_path.open("w")  # a file, not a pipe: a chatty server can never block on it
    process = subprocess.Popen(
        [sys.executable, "-m", "service"], cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"python -m service exited with {process.returncode}: {log_path.read_text()}")
            try:
                if httpx.get(url + "/v2/health/ready", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"python -m service did not get ready within {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.1)
        yield V2Server(url, f"127.0.0.1:{port}", model_path, MAX_BATCH, MAX_BODY_BYTES)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()
