"""The sample store's library code on real databases (SQLite in a temp folder, a real PostgreSQL server):
migrations, the writer's round trip, feedback, retention, concurrent writers, and failures that drop."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select, update

from service.metrics import STORE_RETENTION_DELETED, STORE_SAMPLES
from service.predictions import new_prediction_id
from service.store import database, queries
from service.store.schema import metadata, samples
from service.store.writer import Retention, SampleWriter

REPO_ROOT = Path(__file__).resolve().parents[2]


def counted(outcome: str) -> float:
    return STORE_SAMPLES.labels(outcome)._value.get()


def digit_batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random 28x28 pictures (0..255 floats, as the model sees them) and softmax rows."""
    rng = np.random.default_rng(seed)
    pixels = rng.uniform(0, 255, size=(n, 28, 28)).astype(np.float32)
    logits = rng.normal(size=(n, 10))
    probabilities = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    return pixels, probabilities


@pytest.fixture
def engine(store_url: str):
    engine = database.create_store_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def writer(engine):
    writer = SampleWriter(engine, figures_seconds=3600, retention_seconds=3600)
    writer.start()
    yield writer
    writer.stop()


def rows(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(select(samples).order_by(samples.c.seq)).all()


def test_migrations_are_idempotent_and_match_the_schema_module(engine) -> None:
    assert database.migrate(engine) == database.head_revision()  # the fixture migrated once already
    database.check_revision(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_an_unmigrated_database_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    engine = database.create_store_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(database.StoreError, match=r"python -m service\.store migrate"):
        database.check_revision(engine)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = database.create_store_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_recorded_prediction_round_trips(engine, writer) -> None:
    pixels, probabilities = digit_batch(3)
    ids = [new_prediction_id() for _ in range(3)]
    writer.record("/predict/batch", ids, pixels, probabilities, "digits", "7", [True, None, False])
    assert writer.flush()
    stored = rows(engine)
    assert [r.prediction_id for r in stored] == ids
    for i, row in enumerate(stored):
        seen = np.frombuffer(row.pixels, dtype=np.uint8).reshape(28, 28)
        assert np.array_equal(seen, np.clip(np.rint(pixels[i]), 0, 255).astype(np.uint8))
        assert row.probabilities == pytest.approx(probabilities[i].tolist(), rel=1e-6)
        assert row.predicted == int(np.argmax(probabilities[i]))
        assert row.confidence == pytest.approx(float(probabilities[i].max()), rel=1e-6)
        assert (row.route, row.model_name, row.model_version) == ("/predict/batch", "digits", "7")
        assert row.created_at is not None
        assert row.feedback_label is None
        assert row.feedback_at is None
    assert [r.looks_like_digit for r in stored] == [True, None, False]


def test_feedback_is_stored_and_a_repeat_replaces_it(engine, writer) -> None:
    pixels, probabilities = digit_batch(2, seed=1)
    ids = [new_prediction_id(), new_prediction_id()]
    writer.record("/predict", ids, pixels, probabilities, "digits", "1")
    assert writer.flush()
    predicted = [int(np.argmax(p)) for p in probabilities]
    wrong = (predicted[0] + 1) % 10

    assert queries.set_feedback(engine, ids[0], wrong, False)
    assert queries.set_feedback(engine, ids[1], predicted[1], False)
    with engine.connect() as connection:
        (version,) = queries.feedback_by_version(connection)
    assert (version.stored, version.labelled, version.correct, version.not_a_digit) == (2, 2, 1, 0)
    assert version.accuracy == 0.5
    assert version.confusion[wrong][predicted[0]] == 1
    assert version.confusion[predicted[1]][predicted[1]] == 1

    assert queries.set_feedback(engine, ids[0], None, True)  # changed their mind: not a digit after all
    stored = {r.prediction_id: r for r in rows(engine)}
    assert stored[ids[0]].feedback_label is None
    assert stored[ids[0]].not_a_digit is True
    with engine.connect() as connection:
        (version,) = queries.feedback_by_version(connection)
    assert (version.labelled, version.correct, version.not_a_digit) == (1, 1, 1)
    assert not queries.set_feedback(engine, new_prediction_id(), 3, False)  # unknown id

    corrected = queries.corrected_samples(engine)
    assert corrected.labels.tolist() == [predicted[1]]
    assert corrected.images.shape == (1, 28, 28)


def test_retention_deletes_by_age_then_by_rows(engine) -> None:
    now = datetime.now(UTC)
    pixels = bytes(784)
    with engine.begin() as connection:
        for i in range(10):
            connection.execute(
                insert(samples).values(
                    prediction_id=f"{i:032x}",
                    created_at=now - timedelta(days=40 if i < 3 else 0, seconds=10 - i),
                    route="/predict",
                    model_name="digits",
                    model_version="1",
                    predicted=0,
                    confidence=1.0,
                    probabilities=[1.0] + [0.0] * 9,
                    pixels=pixels,
                )
            )
    before = STORE_RETENTION_DELETED._value.get()
    writer = SampleWriter(engine, retention=Retention(max_rows=5, max_age=timedelta(days=30)))
    assert writer.enforce_retention() == 5  # 3 too old, then 2 more beyond the 5 newest
    assert [r.prediction_id for r in rows(engine)] == [f"{i:032x}" for i in range(5, 10)]
    assert STORE_RETENTION_DELETED._value.get() - before == 5
    assert writer.enforce_retention() == 0


def test_the_writer_thread_enforces_retention_periodically(engine) -> None:
    writer = SampleWriter(engine, retention=Retention(max_rows=2), retention_seconds=0.05)
    writer.start()
    try:
        pixels, probabilities = digit_batch(6, seed=2)
        writer.record(
            "/predict/batch", [new_prediction_id() for _ in range(6)], pixels, probabilities, "d", "1"
        )
        deadline = time.monotonic() + 10
        while len(rows(engine)) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        writer.stop()
    assert len(rows(engine)) == 2


WRITER_SCRIPT = """
import sys, numpy as np
from service.predictions import new_prediction_id
from service.store import database
from service.store.writer import SampleWriter
writer = SampleWriter(database.create_store_engine(sys.argv[1]), queue_size=10_000)
writer.start()
pixels, probabilities = np.zeros((1, 28, 28)), np.full((1, 10), 0.1)
for _ in range(int(sys.argv[2])):
    writer.record("/predict", [new_prediction_id()], pixels, probabilities, "digits", "1")
assert writer.flush(60)
writer.stop()
"""


def test_two_processes_writing_at_once_lose_no_row(engine, store_url: str) -> None:
    per_process = 400
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, store_url, str(per_process)], env=env, cwd=REPO_ROOT
        )
        for _ in range(2)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    stored = rows(engine)
    assert len(stored) == 2 * per_process
    assert len({r.prediction_id for r in stored}) == 2 * per_process


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:9/nothing", "sqlite:////nonexistent-folder/for/sure/samples.db"],
    ids=["postgresql-down", "sqlite-unwritable"],
)
def test_a_down_database_drops_counts_and_logs(url: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = database.create_store_engine(url)
    writer = SampleWriter(engine, figures_seconds=3600, retention_seconds=3600)
    writer.start()
    before = counted("database_error")
    pixels, probabilities = digit_batch(2)
    with caplog.at_level(logging.WARNING, logger="service.store"):
        started = time.perf_counter()
        writer.record("/predict", [new_prediction_id(), new_prediction_id()], pixels, probabilities, "d", "1")
        assert time.perf_counter() - started < 0.05  # the request side never waits on the database
        assert writer.flush(30)
    writer.stop()
    assert counted("database_error") - before == 2
    assert any(r.getMessage() == "sample store dropped predictions" for r in caplog.records)
    assert writer.figures is None  # no stale figures while the database is down


def test_a_full_queue_drops_and_counts_without_waiting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = database.create_store_engine(f"sqlite:///{tmp_path / 'q.db'}")
    writer = SampleWriter(engine, queue_size=2)  # never started: nothing drains the queue
    before = counted("queue_full")
    pixels, probabilities = digit_batch(5)
    with caplog.at_level(logging.WARNING, logger="service.store"):
        writer.record(
            "/predict/batch", [new_prediction_id() for _ in range(5)], pixels, probabilities, "d", "1"
        )
    assert counted("queue_full") - before == 3
    assert writer.queue.qsize() == 2
    assert any(getattr(r, "fields", {}).get("reason") == "queue_full" for r in caplog.records)


def test_a_sample_rate_of_zero_stores_nothing(engine) -> None:
    writer = SampleWriter(engine, sample_rate=0.0)
    pixels, probabilities = digit_batch(5)
    writer.record("/predict/batch", [new_prediction_id() for _ in range(5)], pixels, probabilities, "d", "1")
    assert writer.queue.qsize() == 0


def test_prediction_ids_are_unique_and_carry_their_time() -> None:
    from service.predictions import id_age_seconds

    ids = {new_prediction_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    age = id_age_seconds(next(iter(ids)))
    assert age is not None
    assert 0 <= age < 5
    assert id_age_seconds("not-an-id") is None


def test_purge_deletes_everything(engine, writer, store_url: str) -> None:
    pixels, probabilities = digit_batch(3)
    writer.record("/predict/batch", [new_prediction_id() for _ in range(3)], pixels, probabilities, "d", "1")
    assert writer.flush()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "service.store", "purge", "--store-url", store_url],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "deleted 3 samples" in done.stdout
    assert rows(engine) == []
    with engine.begin() as connection:  # the table is still there and usable
        connection.execute(update(samples).values(route="x"))
