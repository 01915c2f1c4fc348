"""Swapping the served model without downtime: ``SIGHUP`` (see ``service.signals``) or ``POST /admin/reload``.

The reloader loads and checks the candidate (``service.repository``) in a thread while requests go on;
only a model that passed is swapped in (``app.state.model``). Handlers get the model per request, so
requests in flight finish on the old session, which is freed when the last of them ends. A refused model
leaves the old one serving.

Several workers (``--workers N``): uvicorn's supervisor already handles ``SIGHUP`` - it replaces its
workers one at a time, starting each new worker and waiting until it is ready before stopping the old
one gracefully. Each new worker loads the newest valid model at startup, so ``SIGHUP`` to the
supervisor is the reload, with no gap in service. ``POST /admin/reload`` in that mode checks the
candidate first and then signals the supervisor (``service.signals.supervisor_pid``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from litestar import Litestar

from service.metrics import RELOADS
from service.model import DigitModel, ModelError
from service.repository import Stamp, folder_of, load_version, stamp_of, version_folders
from service.settings import Settings

log = logging.getLogger("service.reload")


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
        self.stamp = stamp_of(state.model.path)
        self._lock = anyio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def _candidates(self, current: DigitModel) -> list[tuple[int | None, Path]]:
        repository = self.settings.model_repository
        if repository is None:
            return [(None, self.settings.model_path)]
        repository = Path(repository)
        current_folder = folder_of(current.path, repository)
        return [
            (folder, path)
            for folder, path in version_folders(repository)
            if current_folder is None or folder >= current_folder  # never step back to an older version
        ]

    def find(self, current: DigitModel) -> tuple[DigitModel | None, Stamp | None, list[str]]:
        """The newest candidate that passes its checks (None if the current one is still the newest)."""
        refused = []
        for folder, path in self._candidates(current):
            stamp = stamp_of(path)
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
async def reloader_lifespan(app: Litestar) -> AsyncIterator[None]:
    """After the model is loaded: a reloader on ``app.state.reloader`` (SIGHUP and /admin/reload use it)."""
    app.state.reloader = ModelReloader(app.state, app.state.settings)
    yield
