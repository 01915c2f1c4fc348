"""Shared fixtures: a real ``python -m service`` process to talk to over HTTP.

``live_server`` (session scope) is the base URL of one server started with default settings on a free
port of 127.0.0.1 and the shipped model; it is a ``str`` (``f"{live_server}/predict"``) that also carries
``.log_path`` (the server's stdout+stderr), ``.port`` and ``.process``. ``start_server`` starts extra
servers with their own flags/environment (small limits, a broken model...) and stops them after the test.

In-process: ``shipped_model`` (session scope) is the shipped model loaded once for the whole suite, and
``make_client(**settings)`` a Litestar test client of ``create_app`` around it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from repo_files import REPO_ROOT, SHIPPED_MODEL

if TYPE_CHECKING:
    from litestar.testing import TestClient

    from service.model import DigitModel

# In-process apps (TestClient) serve no gRPC; every spawned server gets its own free gRPC port instead.
os.environ.setdefault("DIGITS_GRPC_PORT", "0")
STARTUP_TIMEOUT = 60.0  # seconds; generous for a loaded CI machine (a cold start takes ~1-2 s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer(str):
    """The base URL of a running ``python -m service``, plus its process, ports and log file."""

    process: subprocess.Popen[bytes]
    port: int
    grpc_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def spawn(
    log_path: Path, *args: str, env: dict[str, str] | None = None, wait_ready: bool = True
) -> LiveServer:
    """Start ``python -m service --port <free> *args``; wait for /readyz unless told not to."""
    port = free_port()
    environment = {
        **os.environ,
        "DIGITS_HOST": "127.0.0.1",
        "DIGITS_WORKERS": "1",
        "DIGITS_GRPC_PORT": str(free_port()),
        **(env or {}),
    }
    with log_path.open("wb") as log_file:  # a file, not a pipe: a chatty server can never block on it
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port), *args],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}")
    server.process, server.port, server.log_path = process, port, log_path
    server.grpc_port = int(environment["DIGITS_GRPC_PORT"])
    if wait_ready:
        wait_until_ready(server)
    return server


def wait_until_ready(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"python -m service exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop(server)
            pytest.fail(f"python -m service was not ready within {STARTUP_TIMEOUT:.0f} s:\n{server.log()}")
        time.sleep(0.05)


def stop(server: LiveServer) -> int:
    """SIGTERM (graceful shutdown), SIGKILL if it hangs; returns the exit code."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One ``python -m service`` with default settings and the shipped model, for the whole session."""
    server = spawn(tmp_path_factory.mktemp("live_server") / "server.log")
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``start_server(*flags, env={...}, wait_ready=True)`` -> a LiveServer, stopped after the test."""
    started: list[LiveServer] = []

    def _start(*args: str, env: dict[str, str] | None = None, wait_ready: bool = True) -> LiveServer:
        server = spawn(tmp_path / f"server{len(started)}.log", *args, env=env, wait_ready=wait_ready)
        started.append(server)
        return server

    yield _start
    for server in started:
        stop(server)


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LiveServer]]:
    """As ``start_server``, for a server the whole test module shares (stopped after the module)."""
    started: list[LiveServer] = []
    folder = tmp_path_factory.mktemp("module_server")

    def _start(*args: str, env: dict[str, str] | None = None, wait_ready: bool = True) -> LiveServer:
        server = spawn(folder / f"server{len(started)}.log", *args, env=env, wait_ready=wait_ready)
        started.append(server)
        return server

    yield _start
    for server in started:
        stop(server)


@pytest.fixture(scope="session")
def shipped_model() -> DigitModel:
    """models/digits/3/model.onnx as the service loads it, once for the whole suite."""
    from service.model import DigitModel

    return DigitModel.load(SHIPPED_MODEL)


@pytest.fixture
def make_client(shipped_model: DigitModel) -> Iterator[Callable[..., TestClient]]:
    """``make_client(max_batch=2, ...)``: an entered test client of ``create_app`` with those settings
    around the shipped model (``model=None``: the lifespan loads one), closed after the test."""
    from litestar.testing import TestClient

    from service.app import create_app
    from service.settings import Settings

    opened: list[TestClient] = []

    def _make(*, model: Any = shipped_model, **settings: Any) -> TestClient:
        client = TestClient(create_app(Settings(**settings), model=model))
        opened.append(client.__enter__())
        return opened[-1]

    yield _make
    for client in opened:
        client.__exit__(None, None, None)
