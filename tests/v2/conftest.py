"""The V2 tests talk to a real `python -m service` over HTTP.

They use the shared `live_server` (tests/conftest.py) when it exists, else start one of their own the
same way. Either server runs with this process's environment plus its own host/port, so `Settings()`
here reads the same model path and limits it uses: the tests know the batch and body limits exactly,
and run onnxruntime on the very model file the server serves (the shipped `models/digits/1/model.onnx`
unless DIGITS_MODEL_PATH says otherwise).
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

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def v2_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Server]:
    settings = Settings()
    try:
        url = str(request.getfixturevalue("live_server"))
        process = None
    except pytest.FixtureLookupError:
        url, process = _start_own_server(tmp_path_factory.mktemp("v2_server") / "server.log")
    try:
        yield V2Server(
            url=url,
            host_port=url.removeprefix("http://"),
            model_path=settings.model_path,
            max_batch=settings.max_batch,
            max_body_bytes=settings.max_body_bytes,
        )
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start_own_server(log_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DIGITS_HOST": "127.0.0.1", "DIGITS_PORT": str(port), "DIGITS_WORKERS": "1"}
    with log_path.open("wb") as log_file:  # a file, not a pipe: a chatty server can never block on it
        command = [sys.executable, "-m", "service"]
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"python -m service exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/v2/health/ready", timeout=2.0).status_code == 200:
                return url, process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"python -m service not ready in {STARTUP_TIMEOUT:.0f} s:\n{log_path.read_text()}")
        time.sleep(0.05)
