"""Process signals of ``python -m service``: SIGTERM ends cleanly, SIGHUP reloads, workers know whom to ask.

Shutdown. uvicorn stops accepting connections on ``SIGTERM``, lets requests in flight finish (up to
``DIGITS_GRACEFUL_TIMEOUT`` seconds) and runs the lifespan shutdown; it then re-raises the signal, which
would end the process with status -15. :func:`prepare_signals` makes that last step a clean exit 0.

Reload. ``SIGHUP`` to a worker process reloads its model (:func:`sighup_lifespan` -> ``service.reload``);
with several workers ``SIGHUP`` goes to uvicorn's supervisor, which replaces its workers one by one, and
a worker's ``POST /admin/reload`` finds that supervisor through ``DIGITS_SUPERVISOR_PID``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

SUPERVISOR_ENV = "DIGITS_SUPERVISOR_PID"


@asynccontextmanager
async def sighup_lifespan(app: Litestar) -> AsyncIterator[None]:
    """While serving, SIGHUP reloads the model (after ``service.reload.reloader_lifespan``)."""
    reloader = app.state.reloader
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, reloader.reload_soon)
        installed = True
    except (ValueError, RuntimeError, NotImplementedError, AttributeError):
        installed = False  # not the main thread (the test client) or no SIGHUP on this platform
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGHUP)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # shutting down: nothing to reload any more


def supervisor_pid() -> int | None:
    """The uvicorn supervisor to SIGHUP for a rolling restart, if this process is one of its workers."""
    value = os.environ.get(SUPERVISOR_ENV, "")
    return int(value) if value.isdigit() and int(value) == os.getppid() else None


def mark_supervisor() -> None:
    """Called by ``python -m service`` before starting several workers: they learn whom to signal."""
    os.environ[SUPERVISOR_ENV] = str(os.getpid())


def prepare_signals() -> None:
    """Called by ``python -m service`` before loading the model.

    SIGTERM means "stop": once uvicorn has shut down gracefully and re-raises it, exit with status 0
    (uvicorn installs its own handler while serving and restores this one afterwards; before that, while
    the model loads, a SIGTERM ends the process at once, also with status 0). SIGHUP before the app is
    serving has nothing to reload: it is ignored instead of killing the process, until the lifespan
    installs the reload handler.
    """

    def _exit(signum: int, frame: object) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
