"""End to end over real HTTP: ``python -m service --workers 2`` with the store on (SQLite and a real
PostgreSQL): it migrates at startup, concurrent predictions on both workers all land, feedback works
from any worker, the access log joins ids and traces, and everything survives a restart. With the store
off the service never imports SQLAlchemy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from repo_files import SHIPPED_MODEL

from service.store import database, queries

REPO_ROOT = Path(__file__).resolve().parents[2]
ONE = [[255 if 4 <= r < 24 and c in (13, 14) else 0 for c in range(28)] for r in range(28)]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

pytestmark = pytest.mark.e2e

VERSION = SHIPPED_MODEL.parent.name  # the served model's version


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema yet: the service's startup migrates it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'samples.db'}"
    return request.getfixturevalue("postgres").create_database(f"e2e_{tmp_path.name[-12:].replace('-', '_')}")


def count_rows(url: str) -> int:
    engine = database.create_store_engine(url)
    try:
        with engine.connect() as connection:
            return queries.count_rows(connection)
    finally:
        engine.dispose()


def test_two_workers_store_every_prediction_and_take_feedback(start_server, empty_store: str) -> None:
    env = {"DIGITS_STORE_URL": empty_store, "DIGITS_WORKERS": "2"}
    server = start_server(env=env)
    n = 40
    with httpx.Client(base_url=server, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.post("/predict", json={"pixels": ONE}), range(n)))
        assert {a.status_code for a in answers} == {200}
        ids = [a.json()["prediction_id"] for a in answers]
        assert len(set(ids)) == n
        # feedback at once, on whichever worker answers: it waits for its row if need be
        corrections = list(
            pool.map(lambda pid: client.post("/feedback", json={"prediction_id": pid, "label": 7}), ids[:10])
        )
        assert [c.status_code for c in corrections] == [200] * 10
        deadline = time.monotonic() + 15
        while count_rows(empty_store) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert count_rows(empty_store) == n  # two writer threads in two processes lost no row
        traced = client.post("/predict", json={"pixels": ONE}, headers={"traceparent": TRACEPARENT})
        summary = client.get("/feedback/summary").json()
        (version,) = summary["versions"]
        assert (version["labelled"], version["correct"]) == (10, 0)
        assert version["confusion"][7][1] == 10
        deadline = time.monotonic() + 15
        while f'kind="labelled",model="digits",version="{VERSION}"}} 10.0' not in client.get("/metrics").text:
            assert time.monotonic() < deadline, client.get("/metrics").text
            time.sleep(0.2)

    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "service.access"]
    logged = {line.get("prediction_id") for line in access if line["route"] == "/predict"}
    assert set(ids) <= logged
    (trace_line,) = [line for line in access if line.get("traceparent")]
    assert trace_line["traceparent"] == TRACEPARENT
    assert trace_line["prediction_id"] == traced.json()["prediction_id"]

    # a restart keeps everything (and migrating again is a no-op)
    server.process.terminate()
    assert server.process.wait(timeout=30) == 0
    again = start_server(env=env)
    (version,) = httpx.get(f"{again}/feedback/summary").json()["versions"]
    assert (version["stored"], version["labelled"]) == (n + 1, 10)
    relabel = httpx.post(f"{again}/feedback", json={"prediction_id": ids[0], "label": 1})
    assert relabel.status_code == 200


def test_startup_refuses_an_unusable_store_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DIGITS_STORE_URL": "mysql://nobody@localhost/x", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "service", "--port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1].startswith("python -m service: cannot start: DIGITS_STORE_URL")
    )


STORE_OFF_SCRIPT = """
import sys
from litestar.testing import TestClient
from service.app import create_app
from service.settings import Settings
with TestClient(create_app(Settings())) as client:
    one = [[255 if 4 <= r < 24 and c in (13, 14) else 0 for c in range(28)] for r in range(28)]
    assert client.post("/predict", json={"pixels": one}).status_code == 200
    assert client.post("/predict/batch", json={"instances": [one]}).status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.post("/feedback", json={"prediction_id": "0" * 32, "label": 1}).status_code == 409
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic", "psycopg", "sqlite3")
                or m.startswith("service.store"))
print(loaded)
sys.exit(1 if loaded else 0)
"""


def test_with_the_store_off_no_database_code_is_even_imported() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITS_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run(
        [sys.executable, "-c", STORE_OFF_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "[]"
