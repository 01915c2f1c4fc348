"""``python -m service``: check the model, then serve the API with uvicorn.

Every setting is a flag (``--port 8080``) and an environment variable (``DIGITS_PORT=8080``); flags win.
The model is loaded and checked here first, so a missing or broken model ends startup with one line on
stderr and exit status 2 - no traceback. One worker serves the already loaded model in this process;
with ``--workers N`` uvicorn starts N processes that each build the app from the same settings
(passed through ``DIGITS_*`` variables) and share /metrics through prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
from typing import Any

import pydantic

from service.settings import Settings, env_for

EXIT_BAD_SETTINGS = 2
EXIT_BAD_MODEL = 2
EXIT_BAD_STORE = 2


def parser() -> argparse.ArgumentParser:
    """One flag per Settings field, help from its description; unset flags defer to env and defaults."""
    cli = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve the digits model and the SGD line fit over HTTP. "
        "Every flag can also be set as DIGITS_<NAME> in the environment.",
    )
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = f"{field.description} [env DIGITS_{name.upper()}]"
        if field.annotation is bool:
            cli.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            default = field.get_default(call_default_factory=True)
            help_text += f" (default {default})"
            cli.add_argument(flag, default=None, metavar=name.upper(), help=help_text)
    return cli


def load_settings(argv: list[str] | None) -> Settings:
    args = parser().parse_args(argv)
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    try:
        return Settings(**overrides)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"python -m service: invalid settings: {problems}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_SETTINGS) from None


def grpc_port_problem(settings: Settings) -> str | None:
    """Why the gRPC port cannot be had, checked once before any worker starts (workers share it through
    SO_REUSEPORT, which would otherwise let them join another server's port without a word)."""
    if settings.grpc_port == 0:
        return None
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc binds: TIME_WAIT is no conflict
        try:
            probe.bind((settings.host, settings.grpc_port))
        except OSError as exc:
            return (
                f"the gRPC port {settings.host}:{settings.grpc_port} is not free ({exc.strerror}); "
                "set DIGITS_GRPC_PORT (--grpc-port), or 0 to turn gRPC off"
            )
    return None


def migrate_store(url: str) -> str | None:
    """Bring the sample store's schema up to date once, here, before any worker starts (workers only
    check it): None, or what went wrong in one line."""
    try:
        from service.store import database
    except ImportError as exc:
        return (
            f"DIGITS_STORE_URL is set but the store's libraries are missing ({exc.name}): "
            "pip install 'digits-service[store]'"
        )
    try:
        engine = database.create_store_engine(url)
        try:
            database.migrate(engine)
        finally:
            engine.dispose()
    except database.StoreError as exc:
        return str(exc)
    except Exception as exc:  # the database refused or is down
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the sample store {database.safe_url(url)} could not be migrated: {reason}"
    return None


def main(argv: list[str] | None = None) -> int:
    settings = load_settings(argv)

    import uvicorn  # imported after the settings are known good: keeps `--help` and errors fast

    from service import repository, signals
    from service.logs import logging_config
    from service.model import ModelError

    signals.prepare_signals()  # SIGTERM: graceful stop, exit 0; SIGHUP: reload once serving
    try:
        model = repository.load_configured(settings)  # DIGITS_MODEL_REPOSITORY's newest valid, or model_path
    except ModelError as exc:
        print(f"python -m service: cannot start: {exc}", file=sys.stderr)
        return EXIT_BAD_MODEL

    busy = grpc_port_problem(settings)
    if busy:
        print(f"python -m service: cannot start: {busy}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if settings.store_url and settings.store_migrate:
        problem = migrate_store(settings.store_url)
        if problem:
            print(f"python -m service: cannot start: {problem}", file=sys.stderr)
            return EXIT_BAD_STORE

    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": logging_config(settings.log_level),
        "access_log": False,  # service.telemetry logs each request once, as JSON
        "server_header": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": settings.graceful_timeout,  # requests in flight finish after SIGTERM
        "http": "service.graceful_http:GracefulHttpProtocol",  # httptools, minus a race at shutdown
    }
    if settings.workers == 1:
        from service.app import create_app

        uvicorn.run(create_app(settings, model=model), **common)
        return 0

    del model  # each worker loads its own session
    os.environ.update(env_for(settings))
    signals.mark_supervisor()  # POST /admin/reload in a worker asks this process (SIGHUP) to restart them
    metrics_dir = tempfile.mkdtemp(prefix="digits-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        # uvicorn's supervisor: one listening socket shared by the workers, rolling restarts on SIGHUP
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            workers=settings.workers,
            timeout_worker_healthcheck=settings.worker_start_timeout,  # also bounds a live worker's ping
            **common,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
