"""Engines and schema migrations for the sample store, SQLite and PostgreSQL through the same code.

``migrate(url)`` brings the schema to the newest Alembic revision. ``python -m service`` runs it once
before it starts its workers (``DIGITS_STORE_MIGRATE``, on by default), and ``python -m service.store
migrate`` runs it by hand; on PostgreSQL it holds an advisory lock for the whole upgrade, so replicas that
start together queue up instead of racing. Workers never migrate: they only check the revision
(:func:`check_revision`) and refuse to start on an outdated schema.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

# Any constant 64-bit key: "the digits store is migrating" (pg_advisory_xact_lock).
MIGRATION_LOCK_KEY = 0x64696769747301
CONNECT_TIMEOUT_SECONDS = 5  # a database that does not answer fails a write fast instead of hanging it
SQLITE_BUSY_MS = 5000  # how long a SQLite writer waits for another process's write lock


class StoreError(RuntimeError):
    """The store URL is unusable or the database is not at the schema this code needs; one line."""


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean the psycopg 3 driver; other URLs are used as given."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def safe_url(url: str) -> str:
    """The URL with any password hidden, for logs and the model card."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL: show nothing of it
        return "<unparseable store URL>"


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode (readers never block the writer), PostgreSQL via psycopg."""
    try:
        parsed = make_url(normalise_url(url))
    except Exception as exc:
        raise StoreError(
            f"DIGITS_STORE_URL is not a database URL ({exc}); e.g. sqlite:////var/lib/digits/samples.db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_engine(
            parsed,
            pool_pre_ping=True,  # a restarted database: reconnect instead of failing one write
            pool_size=2,
            max_overflow=2,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
    raise StoreError(f"DIGITS_STORE_URL must be sqlite:///... or postgresql://..., not {backend}://")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("service.store") / "migrations"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> str | None:
    """Upgrade the schema to the newest revision (a no-op when it is there); returns that revision."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head_revision()


def check_revision(engine: Engine) -> None:
    """Raise StoreError unless the database is at the revision this code was written for."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise StoreError(
            f"the sample store's schema is at revision {current or '(none)'}, this service needs {head}: "
            "run `python -m service.store migrate` (or start with DIGITS_STORE_MIGRATE=true)"
        )
