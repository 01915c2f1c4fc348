"""Operations on a running service: which model to serve, swapping it without downtime, stopping cleanly.

Model source. With ``DIGITS_MODEL_REPOSITORY`` (a Triton-style folder such as ``models/digits`` holding
``1/model.onnx``, ``2/model.onnx``, ...) the service serves the newest version folder whose model passes
the contract check and carries that version in its card; a broken newer one is logged and skipped.
Without it, the service serves ``DIGITS_MODEL_PATH`` and a reload re-reads that file (replace it
atomically, e.g. ``mv``).

Reload. ``SIGHUP`` to a worker process, or ``POST /admin/reload``, loads and checks the candidate in a
thread while requests go on; only a model that passed is swapped in (``app.state.model``). Handlers get
the model per request, so requests in flight finish on the old session, which is freed when the last
of them ends. A refused model leaves the old one serving.

Several workers (``--workers N``): uvicorn's supervisor already handles ``SIGHUP`` - it replaces its
workers one at a time, starting each new worker and waiting until it is ready before stopping the old
one gracefully. Each new worker loads the newest valid model at startup, so ``SIGHUP`` to the
supervisor is the reload, with no gap in service. ``POST /admin/reload`` in that mode checks the
candidate first and then signals the supervisor (``DIGITS_SUPERVISOR_PID``, set by ``python -m service``).

Shutdown. uvicorn stops accepting connections on ``SIGTERM``, lets requests in flight finish (up to
``DIGITS_GRACEFUL_TIMEOUT`` seconds) and runs the lifespan shutdown; it then re-raises the signal, which
would end the process with status -15. :func:`prepare_signals` makes that last step a clean exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from litestar import Litestar
from prometheus_client import Counter

from service.model import DigitModel, ModelError
from service.settings import Settings

log = logging.getLogger("service.lifecycle")

MODEL_FILE = "model.onnx"
SUPERVISOR_ENV = "DIGITS_SUPERVISOR_PID"

RELOADS = Counter("digits_model_reloads_total", "Model reload attempts by outcome", ["outcome"])

Stamp = tuple[int, int, int]  # inode, mtime ns, size: a replaced file has another


def _stamp(path: Path) -> Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def version_folders(repository: Path) -> list[tuple[int, Path]]:
    """``(N, repository/N/model.onnx)`` for every integer-named folder holding a model, newest first."""
    found = []
    try:
        entries = list(repository.iterdir())
    except OSError as exc:
        raise ModelError(f"model repository not readable: {repository}: {exc.strerror}") from None
    for entry in entries:
        if entry.name.isdigit() and (entry / MODEL_FILE).is_file():
            found.append((int(entry.name), entry / MODEL_FILE))
    return sorted(found, reverse=True)


def load_version(path: Path, settings: Settings, folder: int | None = None) -> DigitModel:
    """Load and check one model; in a repository its card must carry the folder's version."""
    model = DigitModel.load(
        path, intra_op_threads=settings.intra_op_threads, inter_op_threads=settings.inter_op_threads
    )
    if folder is not None and model.version != str(folder):
        raise ModelError(
            f"model in version folder {folder} says it is version {model.version!r}: {path} "
            "(the folder and the card's version must agree)"
        )
    return model


def load_configured(settings: Settings) -> DigitModel:
    """The model to serve at startup: the newest valid version in the repository, else DIGITS_MODEL_PATH."""
    repository = settings.model_repository
    if repository is None:
        return load_version(settings.model_path, settings)
    problems = []
    for folder, path in version_folders(repository):
        try:
            return load_version(path, settings, folder)
        except ModelError as exc:
            problems.append(str(exc))
            log.error("model version refused", extra={"fields": {"path": str(path), "reason": str(exc)}})
    if not problems:
        raise ModelError(f"no version folder with {MODEL_FILE} in the model repository {repository}")
    raise ModelError(f"no valid model in {repository}: " + "; ".join(problems))


def _folder_of(path: Path, repository: Path) -> int | None:
    return int(path.parent.name) if path.parent.name.isdigit() and path.parent.parent == repository else None


@dataclass
class ReloadOutcome:
    """What a reload did: ``loaded`` a new model, found it ``unchanged``, or ``refused`` every candidate."""

    outcome: str
    model: DigitModel
    previous: DigitModel | None = None
    refused: list[str] = field(default_factory=list)


class ModelReloader:
    """Finds a newer model, checks it off the event loop, swaps it in; one reload at a time."""

    def __init__(self, state: Any, settings: Settings) -> None:
        self.state = state
        self.settings = settings
        self.stamp = _stamp(state.model.path)
        self._lock = anyio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def _candidates(self, current: DigitModel) -> list[tuple[int | None, Path]]:
        repository = self.settings.model_repository
        if repository is None:
            return [(None, self.settings.model_path)]
        repository = Path(repository)
        current_folder = _folder_of(current.path, repository)
        return [
            (folder, path)
            for folder, path in version_folders(repository)
            if current_folder is None or folder >= current_folder  # never step back to an older version
        ]

    def find(self, current: DigitModel) -> tuple[DigitModel | None, Stamp | None, list[str]]:
        """The newest candidate that passes its checks (None if the current one is still the newest)."""
        refused = []
        for folder, path in self._candidates(current):
            stamp = _stamp(path)
            if path == current.path and stamp == self.stamp:
                break  # what is served is still the newest valid model
            try:
                return load_version(path, self.settings, folder), stamp, refused
            except ModelError as exc:
                refused.append(str(exc))
        return None, None, refused

    async def check(self) -> tuple[DigitModel | None, list[str]]:
        """Dry run: the model a reload would swap in, without swapping (for the supervisor path)."""
        try:
            model, _, refused = await anyio.to_thread.run_sync(self.find, self.state.model)
        except ModelError as exc:  # e.g. the repository folder vanished
            return None, [str(exc)]
        return model, refused

    async def reload(self) -> ReloadOutcome:
        async with self._lock:
            current: DigitModel = self.state.model
            try:
                new, stamp, refused = await anyio.to_thread.run_sync(self.find, current)
            except ModelError as exc:  # e.g. the repository folder vanished
                new, stamp, refused = None, None, [str(exc)]
            if new is None:
                outcome = "refused" if refused else "unchanged"
                RELOADS.labels(outcome).inc()
                fields = {"version": current.version, "path": str(current.path), "refused": refused}
                if refused:
                    log.error("model reload refused; the old model keeps serving", extra={"fields": fields})
                else:
                    log.info("model reload: nothing newer", extra={"fields": fields})
                return ReloadOutcome(outcome, current, refused=refused)
            self.state.model = new  # requests from now on get the new model; those in flight keep theirs
            self.stamp = stamp
            RELOADS.labels("loaded").inc()
            log.info(
                "model reloaded",
                extra={
                    "fields": {
                        "from_version": current.version,
                        "version": new.version,
                        "path": str(new.path),
                        "refused": refused,
                    }
                },
            )
            return ReloadOutcome("loaded", new, previous=current, refused=refused)

    def reload_soon(self) -> None:
        """The SIGHUP handler: start a reload on the event loop (keep a reference until it is done)."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@asynccontextmanager
async def reload_lifespan(app: Litestar) -> AsyncIterator[None]:
    """After the model is loaded: a reloader on ``app.state.reloader`` and SIGHUP -> reload."""
    reloader = ModelReloader(app.state, app.state.settings)
    app.state.reloader = reloader
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
