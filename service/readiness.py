"""Readiness, written once for ``/readyz`` and ``/v2/health/ready``: loaded, and answering.

Ready means one real inference on a blank image succeeds, run in the inference pool like any request,
so a wedged pool or a broken session shows up as not ready.
"""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread

from service.model import DigitModel

log = logging.getLogger("service.readiness")


async def not_ready_reason(model: DigitModel | None, limiter: anyio.CapacityLimiter) -> str | None:
    """None when ``model`` is loaded and answers its test inference; otherwise why it is not ready."""
    if model is None:
        return "no model is loaded"
    try:
        await anyio.to_thread.run_sync(model.self_test, limiter=limiter)
    except Exception as exc:
        log.warning("model failed its readiness inference: %s", exc)
        return f"the model is loaded but not answering: {exc}"
    return None
