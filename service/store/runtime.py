"""The store as one process runs it: engine + writer, opened from the settings and closed at shutdown."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from service.settings import Settings
from service.store import database
from service.store.writer import Retention, SampleWriter

log = logging.getLogger("service.store")


@dataclass
class SampleStore:
    engine: Engine
    writer: SampleWriter

    def close(self) -> None:
        self.writer.stop()
        self.engine.dispose()


def retention(settings: Settings) -> Retention:
    days = settings.store_max_age_days
    return Retention(max_rows=settings.store_max_rows, max_age=timedelta(days=days) if days else None)


def open_store(settings: Settings) -> SampleStore:
    """Connect, check the schema revision (a database that is down is logged, not fatal: the writer
    drops and counts until it is back) and start the writer thread."""
    engine = database.create_store_engine(settings.store_url)
    try:
        database.check_revision(engine)
    except database.StoreError:
        engine.dispose()
        raise
    except Exception as exc:  # unreachable now; writes are retried per batch
        log.warning(
            "sample store unreachable at startup",
            extra={
                "fields": {"url": database.safe_url(settings.store_url), "error": str(exc).splitlines()[0]}
            },
        )
    writer = SampleWriter(
        engine,
        queue_size=settings.store_queue,
        sample_rate=settings.store_sample_rate,
        retention=retention(settings),
    )
    writer.start()
    log.info(
        "sample store on",
        extra={
            "fields": {
                "url": database.safe_url(settings.store_url),
                "sample_rate": settings.store_sample_rate,
                "max_rows": settings.store_max_rows,
                "max_age_days": settings.store_max_age_days,
            }
        },
    )
    return SampleStore(engine, writer)
