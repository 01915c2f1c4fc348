"""The sample store's writer: a bounded queue and one background thread per process.

Requests only build a small row (784 bytes of pixels, ten probabilities) and ``put_nowait`` it; the
thread inserts whatever has queued up in one transaction, so the database's speed never reaches a
request. A full queue or a failing database drops the rows, counts them
(``digits_store_samples_total{outcome=...}``) and logs at most one line per ``LOG_EVERY_SECONDS``: a
prediction never fails or waits because of the store. The same thread enforces retention (rows and age,
every ``retention_seconds``) and refreshes the feedback figures /metrics shows (every ``figures_seconds``,
and soon after feedback reached this process).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert

import contract
from service.metrics import STORE_RETENTION_DELETED, STORE_SAMPLES
from service.predictions import Recorder
from service.store import queries
from service.store.schema import samples

log = logging.getLogger("service.store")

BATCH_ROWS = 256  # most rows in one insert
TICK_SECONDS = 0.25  # how often the idle thread looks at retention, figures and stop
LOG_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class Retention:
    max_rows: int = 0  # 0: no row limit
    max_age: timedelta | None = None  # None: no age limit


class SampleWriter(Recorder):
    """The store's ``Recorder``: ``record()`` never blocks and never raises."""

    def __init__(
        self,
        engine: Engine,
        *,
        queue_size: int = 1000,
        sample_rate: float = 1.0,
        retention: Retention | None = None,
        retention_seconds: float = 60.0,
        figures_seconds: float = 5.0,
    ) -> None:
        self.engine = engine
        self.sample_rate = sample_rate
        self.retention = retention or Retention()
        self.retention_seconds = retention_seconds
        self.figures_seconds = figures_seconds
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        self.figures: list[queries.VersionFeedback] | None = None  # the latest snapshot, swapped whole
        self._stop = threading.Event()
        self._figures_due = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sample-store-writer", daemon=True)
        self._last_log: dict[str, float] = {}
        self._dropped_since_log: dict[str, int] = {}

    # --- request side -----------------------------------------------------------------------------

    def record(
        self,
        route: str,
        ids: list[str],
        pixels: np.ndarray,
        probabilities: np.ndarray,
        model_name: str,
        model_version: str,
        looks_like_digit: list[bool | None] | None = None,
    ) -> None:
        now = datetime.now(UTC)
        seen = np.clip(np.rint(pixels), 0, contract.PIXEL_MAX).astype(np.uint8)
        for i, prediction_id in enumerate(ids):
            if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
                continue
            row = probabilities[i]
            predicted = int(np.argmax(row))
            sample = {
                "prediction_id": prediction_id,
                "created_at": now,
                "route": route,
                "model_name": model_name,
                "model_version": model_version,
                "predicted": predicted,
                "confidence": float(row[predicted]),
                "probabilities": [float(p) for p in row],
                "pixels": seen[i].tobytes(),
                "looks_like_digit": looks_like_digit[i] if looks_like_digit is not None else None,
            }
            try:
                self.queue.put_nowait(sample)
            except queue.Full:
                self._dropped("queue_full", 1)

    def feedback_arrived(self) -> None:
        """Refresh the figures soon (this process stored feedback)."""
        self._figures_due.set()

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then end the thread."""
        self._stop.set()
        self._thread.join(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # --- the thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        next_retention = time.monotonic()  # once at start, then every retention_seconds
        next_figures = time.monotonic()
        while True:
            try:
                first = self.queue.get(timeout=TICK_SECONDS)
            except queue.Empty:
                if self._stop.is_set():
                    return
            else:
                batch = [first]
                while len(batch) < BATCH_ROWS:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                self._write(batch)
                for _ in batch:
                    self.queue.task_done()
            now = time.monotonic()
            if now >= next_retention:
                self.enforce_retention()
                next_retention = now + self.retention_seconds
            if now >= next_figures or self._figures_due.is_set():
                self._figures_due.clear()
                self.refresh_figures()
                next_figures = now + self.figures_seconds

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(samples), batch)
        except Exception as exc:  # any database failure: the rows are lost, the service goes on
            self._dropped("database_error", len(batch), exc)
            return
        STORE_SAMPLES.labels("written").inc(len(batch))

    def enforce_retention(self) -> int:
        """Delete rows past the age limit, then the oldest past the row limit; returns how many."""
        if not self.retention.max_rows and self.retention.max_age is None:
            return 0
        try:
            with self.engine.begin() as connection:
                deleted = 0
                if self.retention.max_age is not None:
                    deleted += queries.delete_older_than(
                        connection, datetime.now(UTC) - self.retention.max_age
                    )
                if self.retention.max_rows:
                    deleted += queries.delete_beyond_rows(connection, self.retention.max_rows)
        except Exception as exc:
            self._log_once("retention", "sample store retention failed", exc)
            return 0
        if deleted:
            STORE_RETENTION_DELETED.inc(deleted)
            log.info("sample store retention", extra={"fields": {"deleted": deleted}})
        return deleted

    def refresh_figures(self) -> None:
        try:
            with self.engine.connect() as connection:
                self.figures = queries.feedback_by_version(connection)
        except Exception as exc:
            self.figures = None  # stale figures would look live; show none while the database is down
            self._log_once("figures", "sample store figures unavailable", exc)

    # --- dropping, counted and logged -------------------------------------------------------------

    def _dropped(self, reason: str, count: int, exc: Exception | None = None) -> None:
        STORE_SAMPLES.labels(reason).inc(count)
        self._dropped_since_log[reason] = self._dropped_since_log.get(reason, 0) + count
        self._log_once(reason, "sample store dropped predictions", exc)

    def _log_once(self, key: str, message: str, exc: Exception | None) -> None:
        """One warning per key per LOG_EVERY_SECONDS, with the count since the last one."""
        now = time.monotonic()
        if now - self._last_log.get(key, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
            return
        self._last_log[key] = now
        fields: dict[str, Any] = {"reason": key, "dropped": self._dropped_since_log.pop(key, 0)}
        if exc is not None:
            fields["error"] = (
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            )
        log.warning(message, extra={"fields": fields})
