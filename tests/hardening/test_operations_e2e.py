"""Operations end to end against ``python -m service`` over real HTTP: API key, graceful shutdown (one
worker and two), model reload on SIGHUP and POST /admin/reload (one worker and two) without a failed
request, and a bad new model refused while the old one keeps serving.

The tests order their steps by waiting on the events themselves (uvicorn's log lines, what the kernel
says about a connection in tcp_state, requests recorded by the traffic thread), never on fixed sleeps.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import tcp_state
from expected_headers import API_POLICY, directives
from model_files import write_broken, write_version

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "e2e-key"
AUTH = {"x-api-key": KEY}
PIXELS = {"pixels": [255, *[0] * 783]}  # one inked pixel: not blank (a blank field is a 422)


def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "models" / "digits"
    write_version(repo, 1)  # the shipped graph, its card saying version 1
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

    def answered(self, version: str) -> int:
        return sum(1 for _, seen in self.results if seen == version)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1, why=lambda: ""):
    """Poll ``predicate`` until it is true; on timeout fail with ``why()`` (e.g. the server's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not reached in {timeout} s\n{why()}")


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
        assert directives(ok.headers["content-security-policy"]) == API_POLICY
    assert KEY not in server.log()  # the key is never logged


# --- graceful shutdown -----------------------------------------------------------------------------------

FIT_BODY = json.dumps({"x": list(range(1000)), "y": [2 * i + 1 for i in range(1000)]}).encode()


# uvicorn logs this once it has closed its listener and asked every connection to finish, if any is open.
DRAINING = "Waiting for connections to close"


class SlowUpload:
    """A /fit-line request on a raw socket whose body arrives in two parts: in flight until ``finish``.

    A raw socket, so the test knows its port and can ask the kernel (tcp_state) whether the server has
    accepted the connection and read the headers and the first part of the body."""

    def __init__(self, port: int) -> None:
        self.server_port = port
        self.connection = socket.create_connection(("127.0.0.1", port), timeout=90)
        self.client_port = self.connection.getsockname()[1]
        head = (
            "POST /fit-line HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
            f"content-length: {len(FIT_BODY)}\r\n\r\n"
        )
        self.connection.sendall(head.encode() + FIT_BODY[:100])

    def in_flight(self) -> bool:
        return tcp_state.has_read_everything(self.server_port, self.client_port)

    def finish(self) -> tuple[int, str]:
        """Send the rest of the body; the status and body of the answer."""
        with self.connection:
            self.connection.sendall(FIT_BODY[100:])
            response = http.client.HTTPResponse(self.connection)
            response.begin()
            return response.status, response.read().decode(errors="replace")


def _new_request(url: str, result: dict) -> None:
    try:
        result["status"] = httpx.get(f"{url}/healthz", timeout=60).status_code
    except httpx.HTTPError as exc:
        result["status"] = type(exc).__name__


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_requests_in_flight_finish_refuses_new_ones_and_exits_0(start_server, workers) -> None:
    server = start_server("--workers", str(workers))
    slow = SlowUpload(server.port)
    wait_for(slow.in_flight, timeout=30)  # headers and part of the body read: the request is in flight
    server.process.send_signal(signal.SIGTERM)
    # Every worker has begun shutting down (uvicorn logs it, then closes its listener with no await in
    # between), and the one holding the request has closed its listener and waits for it.
    wait_for(lambda: server.log().count("Shutting down") >= workers, timeout=30, why=server.log)
    wait_for(lambda: DRAINING in server.log(), timeout=30, why=server.log)

    newcomer: dict = {}
    probe = threading.Thread(target=_new_request, args=(server, newcomer))
    probe.start()
    if workers == 1:  # the listening socket is closed: refused at once
        probe.join(timeout=30)
        assert newcomer.get("status") == "ConnectError", newcomer
    else:  # the supervisor holds the socket until it exits: the newcomer waits in the backlog
        wait_for(lambda: tcp_state.waiting_in_backlog(server.port), timeout=30, why=server.log)
    assert server.process.poll() is None, "the server exited with a request in flight"

    status, text = slow.finish()  # the rest of the body: the request completes during the shutdown
    assert status == 200, text
    body = json.loads(text)
    assert body["status"] == "converged"
    assert abs(body["slope"] - 2) < 1e-6
    assert server.process.wait(timeout=60) == 0
    probe.join(timeout=60)
    # Several workers: the connection waiting in the backlog is reset when the supervisor exits; it is
    # never served.
    expected = ("ConnectError",) if workers == 1 else ("ReadError", "RemoteProtocolError")
    assert newcomer.get("status") in expected, newcomer
    assert "Traceback" not in server.log()


# --- reload -------------------------------------------------------------------------------------------


def test_sighup_reloads_a_new_version_without_a_failed_request(start_server, tmp_path) -> None:
    repo = repository(tmp_path)
    server = start_server(env={"DIGITS_MODEL_REPOSITORY": str(repo), "DIGITS_ACCESS_LOG": "false"})
    pid = server.process.pid
    assert served_version(server) == "1"
    with Traffic(server) as traffic:
        wait_for(lambda: traffic.answered("1") >= 5, timeout=30)
        write_version(repo, 2)
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: traffic.answered("2") >= 5, timeout=30)
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
        wait_for(lambda: traffic.answered("1") >= 5, timeout=30)
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
            lambda: all(v == "2" for _, v in traffic.results[-20:]) and len(traffic.results) > 20,
            timeout=90,
            why=lambda: f"{traffic.results[-20:]}\n{server.log()[-3000:]}",
        )
        write_version(repo, 3)
        os.kill(server.process.pid, signal.SIGHUP)  # the supervisor's own signal: the same rolling restart
        wait_for(
            lambda: traffic.results[-1][1] == "3" and all(v == "3" for _, v in traffic.results[-20:]),
            timeout=90,
            why=lambda: f"{traffic.results[-20:]}\n{server.log()[-3000:]}",
        )
    supervisor_log = [line for line in server.log().splitlines() if "process" in line.lower()]
    assert traffic.failures() == [], (traffic.failures()[:5], supervisor_log[-30:])
    assert server.process.poll() is None
    # 2 workers at start, 2 new ones per rolling restart
    wait_for(lambda: server.log().count("Started server process") >= 6, timeout=60)
    assert "Traceback" not in server.log()


def test_a_connection_accepted_before_sigterm_gets_its_request_answered(start_server) -> None:
    """The race service.graceful_http closes: connected, request not yet sent, then SIGTERM."""
    server = start_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        client_port = connection.getsockname()[1]
        wait_for(lambda: tcp_state.has_read_everything(server.port, client_port), timeout=30)  # accepted
        server.process.send_signal(signal.SIGTERM)
        # uvicorn logs this, then (with no await in between, so before it reads anything more) closes
        # the listener and shuts every connection down: plain uvicorn closes this idle-looking one
        # unanswered; graceful_http keeps it open for the request on its way.
        wait_for(lambda: "Shutting down" in server.log(), timeout=30, why=server.log)
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert server.process.wait(timeout=30) == 0
