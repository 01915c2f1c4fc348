"""The sample store inside the app (Litestar side): open it in the lifespan, hand it to handlers.

With ``DIGITS_STORE_URL`` empty the lifespan only sets ``app.state.store = None``: ``service.store`` (and so
SQLAlchemy) is never imported and no database is touched. Otherwise each process opens its own engine
and writer thread (``service.store.runtime``); handlers get the writer as ``sample_store`` by DI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from litestar.datastructures import State
from litestar.di import NamedDependency

from service.errors import ApiError
from service.model import DigitModel
from service.predictions import Recorder

if TYPE_CHECKING:
    from litestar import Litestar

    from service.store.runtime import SampleStore

STORE_OFF = "the sample store is off: set DIGITS_STORE_URL (docs/feedback.md)"


@asynccontextmanager
async def store_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings = app.state.settings
    app.state.store = None
    if not settings.store_url:
        yield
        return
    from service.metrics import FeedbackCollector
    from service.store.runtime import open_store

    store = await anyio.to_thread.run_sync(lambda: open_store(settings))
    app.state.store = store
    app.state.metrics_collectors = [FeedbackCollector(lambda: store.writer.figures)]
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(store.close)


def provide_sample_store(state: State, model: NamedDependency[DigitModel]) -> Recorder | None:
    """The store's writer, or None when the store is off (last in the settings -> ... -> model chain)."""
    del model  # only orders the chain
    store = state.get("store")
    return store.writer if store is not None else None


def open_store_or_409(state: State) -> SampleStore:
    store: Any = state.get("store")
    if store is None:
        raise ApiError(409, STORE_OFF)
    return store
