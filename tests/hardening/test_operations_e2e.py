"""Operations end to end against ``python -m service`` over real HTTP: API key, graceful shutdown (one
worker and two), model reload on SIGHUP and POST /admin/reload (one worker and two) without a failed
request, and a bad new model refused while the old one keeps serving.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from model_files import SHIPPED, write_broken, write_version

from service.security import API_CSP

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "e2e-key"
AUTH = {"x-api-key": KEY}
PIXELS = {"pixels": [255, *[0] * 783]}  # one inked pixel: not blank (a blank field is a 422)


def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "models" / "digits"
    (repo / "1").mkdir(parents=True)
    shutil.copy(SHIPPED, repo / "1" / "model.onnx")
    return repo


class Traffic:
    """Requests in a loop on a background thread, recording every status and model version seen."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url, self.headers = url, headers or {}
        self.results: list[tuple[int | str, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # A new connection per request, so the requests reach every worker, not just one.
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, timeout=30.0, headers=self.headers, limits=no_keepalive) as http:
            while not self._stop.is_set():
                try:
                    response = http.post("/predict", json=PIXELS)
                    version = response.json()["model"]["version"] if response.status_code == 200 else None
                    self.results.append((response.status_code, version))
                except httpx.HTTPError as exc:
                    self.results.append((f"{type(exc).__name__}: {exc!r} at {time.time():.3f}", None))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def failures(self) -> list[tuple[int | str, str | None]]:
        return [result for result in self.results if result[0] != 200]


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def served_version(url: str, headers: dict[str, str] | None = None) -> str:
    return httpx.get(f"{url}/model", headers=headers or {}, timeout=10).json()["version"]


# --- access over real HTTP -----------------------------------------------------------------------------


def test_api_key_and_headers_over_real_http(start_server) -> None:
    server = start_server(env={"DIGITS_API_KEY": KEY})
    with httpx.Client(base_url=server, timeout=30) as http:
        denied = http.post("/predict", json=PIXELS)
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Bearer")
        assert denied.headers["content-type"].startswith("application/problem+json")
        assert (
            http.post("/predict", json=PIXELS, headers={"authorization": f"Bearer {KEY}"}).status_code == 200
        )
        assert http.post("/predict", json=PIXELS, headers=AUTH).status_code == 200
        v2 = http.get("/v2/models/digits")
        assert v2.status_code == 401
        assert set(v2.json()) == {"error"}
        for path in ("/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"):
            assert http.get(path).status_code == 200, path
        ok = http.get("/model", headers=AUTH)
        assert ok.headers["x-content-type-options"] == "nosniff"
        assert ok.headers["x-frame-options"] == "DENY"
        assert ok.headers["content-security-policy"] == API_CSP
    assert KEY not in server.log()  # the key is never logged


# --- graceful shutdown -----------------------------------------------------------------------------------

FIT_BODY = json.dumps({"x": list(range(1000)), "y": [2 * i + 1 for i in range(1000)]}).encode()


class SlowUpload:
    """A /fit-line request whose body arrives in two parts: in flight until ``release`` is set."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.release = threading.Event()
        self.sent_first_part = threading.Event()
        self.result: dict = {}
        self.thread = threading.Thread(target=self._run)

    def _body(self):
        yield FIT_BODY[:100]
        self.sent_first_part.set()
        self.release.wait(timeout=60)
        yield FIT_BODY[100:]

    def _run(self) -> None:
        try:
            response = httpx.post(
                f"{self.url}/fit-line",
                content=self._body(),
                headers={"content-type": "application/json"},
                timeout=90,
            )
            self.result.update(status=response.status_code, body=response.json())
        except httpx.HTTPError as exc:
            self.result.update(status=type(exc).__name__)


def _new_request(url: str, result: dict) -> None:
    try:
        result["status"] = httpx.get(f"{url}/healthz", timeout=60).status_code
    except httpx.HTTPError as exc:
        result["status"] = type(exc).__name__


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_requests_in_flight_finish_refuses_new_ones_and_exits_0(start_server, workers) -> None:
    server = start_server("--workers", str(workers))
    slow = SlowUpload(server)
    slow.thread.start()
    assert slow.sent_first_part.wait(timeout=30)
    time.sleep(0.5)  # the server has read the headers and part of the body: the request is in flight
    server.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)  # uvicorn notices the signal within 0.1 s and stops accepting connections

    newcomer: dict = {}
    probe = threading.Thread(target=_new_request, args=(server, newcomer))
    probe.start()
    probe.join(timeout=2)
    if workers == 1:  # the listening socket is closed: refused at once
        assert newcomer.get("status") == "ConnectError", newcomer
    assert server.process.poll() is None, "the server exited with a request in flight"

    slow.release.set()  # the rest of the body: the request completes during the shutdown
    slow.thread.join(timeout=60)
    assert slow.result.get("status") == 200, slow.result
    assert slow.result["body"]["status"] == "converged"
    assert abs(slow.result["body"]["slope"] - 2) < 1e-6
    assert server.process.wait(timeout=60) == 0
    probe.join(timeout=60)
    # Several workers: the supervisor holds the socket until it exits, so a new connection waits in the
    # backlog and is then reset; it is never served.
    assert newcomer.get("status") != 200, newcomer
    assert newcomer.get("status") in ("ConnectError", "ReadError", "RemoteProtocolError"), newcomer
    assert "Traceback" not in server.log()


# --- reload -------------------------------------------------------------------------------------------


def test_sighup_reloads_a_new_version_without_a_failed_request(start_server, tmp_path) -> None:
    repo = repository(tmp_path)
    server = start_server(env={"DIGITS_MODEL_REPOSITORY": str(repo), "DIGITS_ACCESS_LOG": "false"})
    pid = server.process.pid
    assert served_version(server) == "1"
    with Traffic(server) as traffic:
        time.sleep(0.3)
        write_version(repo, 2)
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: served_version(server) == "2", timeout=30)
        time.sleep(0.3)
    assert traffic.failures() == []
    versions = [version for _, version in traffic.results]
    assert versions[0] == "1"
    assert versions[-1] == "2"
    assert versions == sorted(versions)  # 1...1 then 2...2: no request saw a mixture afterwards
    assert server.process.poll() is None  # the same process: nothing restarted
    v2 = httpx.get(f"{server}/v2/models/digits").json()
    assert v2["versions"] == ["2"]
    assert httpx.get(f"{server}/readyz").json()["model"]["version"] == "2"

    # A broken newer version is refused; version 2 keeps serving.
    write_broken(repo, 3)
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "model reload refused" in server.log(), timeout=30)
    assert served_version(server) == "2"
    assert httpx.post(f"{server}/predict", json=PIXELS).status_code == 200
    assert "Traceback" not in server.log()


def test_admin_reload_over_http(start_server, tmp_path) -> None:
    repo = repository(tmp_path)
    server = start_server(env={"DIGITS_MODEL_REPOSITORY": str(repo), "DIGITS_API_KEY": KEY})
    assert httpx.post(f"{server}/admin/reload").status_code == 401
    write_broken(repo, 2, "no_name")
    refused = httpx.post(f"{server}/admin/reload", headers=AUTH, timeout=30)
    assert refused.status_code == 422
    assert "version 1 keeps serving" in refused.json()["detail"]
    shutil.rmtree(repo / "2")
    write_version(repo, 2)
    reloaded = httpx.post(f"{server}/admin/reload", headers=AUTH, timeout=30)
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["model"]["version"] == "2"
    assert served_version(server, AUTH) == "2"


def test_several_workers_reload_by_rolling_restart_without_a_failed_request(start_server, tmp_path) -> None:
    repo = repository(tmp_path)
    server = start_server(
        "--workers",
        "2",
        env={"DIGITS_MODEL_REPOSITORY": str(repo), "DIGITS_API_KEY": KEY, "DIGITS_ACCESS_LOG": "false"},
    )
    with Traffic(server, AUTH) as traffic:
        time.sleep(0.5)
        write_version(repo, 2)
        response = httpx.post(f"{server}/admin/reload", headers=AUTH, timeout=30)
        assert response.status_code == 202, response.text
        assert response.json() == {
            "status": "restarting",
            "model": {"name": "digits", "version": "2"},
            "refused": [],
        }
        # Every worker answers version 2 once the supervisor has replaced them all.
        wait_for(
            lambda: all(v == "2" for _, v in traffic.results[-20:]) and len(traffic.results) > 20, timeout=90
        )
        write_version(repo, 3)
        os.kill(server.process.pid, signal.SIGHUP)  # the supervisor's own signal: the same rolling restart
        wait_for(
            lambda: traffic.results[-1][1] == "3" and all(v == "3" for _, v in traffic.results[-20:]),
            timeout=90,
        )
    supervisor_log = [line for line in server.log().splitlines() if "process" in line.lower()]
    assert traffic.failures() == [], (traffic.failures()[:5], supervisor_log[-30:])
    assert server.process.poll() is None
    # 2 workers at start, 2 new ones per rolling restart
    wait_for(lambda: server.log().count("Started server process") >= 6, timeout=60)
    assert "Traceback" not in server.log()


def test_a_connection_accepted_before_sigterm_gets_its_request_answered(start_server) -> None:
    """The race service.graceful_http closes: connected, request not yet sent, then SIGTERM."""
    import socket

    server = start_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        time.sleep(0.3)  # accepted by the server, nothing sent yet
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the server is shutting down: listener closed, idle connections closing
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert server.process.wait(timeout=30) == 0
