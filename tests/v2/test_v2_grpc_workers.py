"""gRPC operations against one `python -m service --workers 2` with an API key and a model repository:
every worker serves the gRPC port, the key guards gRPC as it guards HTTP, statistics are summed over
the workers, repository load is the reload (a new version serves), and SIGTERM lets calls finish.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import tritonclient.grpc as triton
import tritonclient.http as triton_http
from hardening.model_files import write_version  # tests/ is on sys.path (its conftest.py)
from tritonclient.utils import InferenceServerException

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "grpc-key"
AUTH = {"x-api-key": KEY}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("grpc_repo") / "digits"
    write_version(repo, 1)
    return repo


@pytest.fixture(scope="module")
def server(start_module_server: Callable[..., Any], repository: Path) -> Any:
    env = {"DIGITS_WORKERS": "2", "DIGITS_API_KEY": KEY, "DIGITS_MODEL_REPOSITORY": str(repository)}
    return start_module_server(env=env)


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}") as client:
        yield client


def image(n: int = 1) -> triton.InferInput:
    tensor = triton.InferInput("image", [n, 1, 28, 28], "FP32")
    tensor.set_data_from_numpy(np.zeros((n, 1, 28, 28), np.float32))
    return tensor


def listening_ports(process: psutil.Process) -> set[int]:
    # psutil < 6 (kserve pins it) calls it connections(), later versions net_connections()
    connections = getattr(process, "net_connections", None) or process.connections
    return {c.laddr.port for c in connections("tcp") if c.status == psutil.CONN_LISTEN}


def grpc_workers(server: Any) -> list[psutil.Process]:
    children = psutil.Process(server.process.pid).children()
    return [child for child in children if server.grpc_port in listening_ports(child)]


def test_every_worker_listens_on_the_grpc_port(server: Any) -> None:
    deadline = time.monotonic() + 60  # /readyz answered from one worker; the other may still start
    while len(grpc_workers(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(grpc_workers(server)) == 2, [
        child.cmdline() for child in psutil.Process(server.process.pid).children()
    ]


def test_the_api_key_guards_grpc(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()  # health stays open, as /v2/health/* over HTTP
    assert client.is_server_ready()
    for headers in (None, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}):
        with pytest.raises(InferenceServerException) as info:
            client.infer("digits", [image()], headers=headers)
        assert info.value.status() == "StatusCode.UNAUTHENTICATED"
        assert "API key" in info.value.message()
    for headers in (AUTH, {"authorization": f"Bearer {KEY}"}):
        assert client.infer("digits", [image()], headers=headers).as_numpy("probabilities").shape == (1, 10)


def test_statistics_are_summed_over_the_workers(server: Any) -> None:
    def inference_count() -> int:
        with triton.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}") as fresh:
            stats = fresh.get_inference_statistics("digits", headers=AUTH)
        return stats.model_stats[0].inference_count

    before = inference_count()
    for _ in range(12):  # a new connection each time: SO_REUSEPORT spreads them over the workers
        with triton.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}") as fresh:
            fresh.infer("digits", [image(3)], headers=AUTH)
    for _ in range(4):  # every worker answers the same sum
        assert inference_count() - before == 36


def test_repository_load_is_the_reload(
    server: Any, client: triton.InferenceServerClient, repository: Path
) -> None:
    assert client.get_model_repository_index(headers=AUTH, as_json=True)["models"] == [
        {"name": "digits", "version": "1", "state": "READY"}
    ]
    write_version(repository, 2)
    client.load_model("digits", headers=AUTH)  # several workers: the supervisor replaces them
    wait_for = 150.0  # two workers replaced one after the other; a worker start took 20 s on a busy machine
    deadline = time.monotonic() + wait_for
    while time.monotonic() < deadline:
        new_workers = server.log().count('"msg": "model loaded", "model": "digits", "version": "2"')
        if new_workers == 2 and len(grpc_workers(server)) == 2:  # both replaced, the old ones gone
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"version 2 was not served within {wait_for} s:\n{server.log()}")
    for _ in range(4):
        with triton.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}") as fresh:
            assert fresh.get_model_metadata("digits", headers=AUTH).versions == ["2"]
    with triton_http.InferenceServerClient(url=server.removeprefix("http://")) as http:
        http.load_model("digits", headers=AUTH)  # nothing newer now: loads nothing, answers 200
        assert http.get_model_repository_index(headers=AUTH) == [
            {"name": "digits", "version": "2", "state": "READY", "reason": ""},
            {
                "name": "digits",
                "version": "1",
                "state": "UNAVAILABLE",
                "reason": "this server serves only the newest valid version (2)",
            },
        ]
    with pytest.raises(InferenceServerException) as info:
        client.load_model("digits", headers=AUTH, config='{"name": "digits"}')
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    with pytest.raises(InferenceServerException) as info:
        client.unload_model("digits", headers=AUTH)
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "unloading is not supported" in info.value.message()


def test_sigterm_lets_calls_in_flight_finish(server: Any) -> None:
    """Calls running when SIGTERM arrives finish OK; later ones are served until the gRPC server stops,
    then refused. A call that reaches a worker at the instant its gRPC core shuts down is answered
    CANCELLED by the core itself (before any handler runs), so that code is accepted for calls begun
    after the signal only."""
    results: list[tuple[float, str]] = []  # (when the call began, its outcome)
    started = threading.Barrier(5)

    def call() -> None:
        with triton.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}") as fresh:
            started.wait()
            for _ in range(20):
                began = time.monotonic()
                try:
                    fresh.infer("digits", [image(256)], headers=AUTH)
                    results.append((began, "OK"))
                except InferenceServerException as exc:
                    results.append((began, exc.status() or ""))
                    return

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.3)
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(60)
    assert server.process.wait(60) == 0
    before = [outcome for began, outcome in results if began < signalled]
    after = [outcome for began, outcome in results if began >= signalled]
    assert before, results
    assert set(before) == {"OK"}, results  # in flight at SIGTERM: finished, never cut off
    assert set(after) <= {"OK", "StatusCode.UNAVAILABLE", "StatusCode.CANCELLED"}, results
