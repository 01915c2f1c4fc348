"""Fixtures for the sample store tests: a real PostgreSQL server for the session, and a fresh database
per test on SQLite (a temp file) or on that server (a new database), as the ``store_url`` parameter says."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from postgres_server import TempPostgres

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[TempPostgres]:
    """One PostgreSQL server (Debian's binaries, a temp folder, a loopback port) for the whole session."""
    with TempPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated sample store."""
    from service.store import database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'samples.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"test_{next(_names)}")
    engine = database.create_store_engine(url)
    database.migrate(engine)
    engine.dispose()
    return url
