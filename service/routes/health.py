"""Liveness and readiness: ``/healthz`` says the process answers, ``/readyz`` that the model does."""

from __future__ import annotations

from typing import ClassVar

import anyio
from litestar import Controller, route
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import HttpMethod

from service.errors import ApiError
from service.model import DigitModel
from service.openapi import PublicOperation, problem_responses
from service.readiness import not_ready_reason
from service.schemas import Health, ModelRef, Ready

# Uptime checkers and load balancers often probe with HEAD: the same answer, without the body.
PROBE_METHODS = [HttpMethod.GET, HttpMethod.HEAD]


class HealthController(Controller):
    tags: ClassVar[list[str]] = ["operations"]

    @route(
        "/healthz",
        http_method=PROBE_METHODS,
        sync_to_thread=False,
        operation_class=PublicOperation,
        summary="Liveness",
    )
    def healthz(self) -> Health:
        """Liveness: the process is up and serving HTTP. No model call, so it is cheap enough for tight
        probe intervals; HEAD answers the same without a body. Always open (no API key needed)."""
        return Health()

    @route(
        "/readyz",
        http_method=PROBE_METHODS,
        operation_class=PublicOperation,
        summary="Readiness",
        responses=problem_responses(503, _503="the model failed its test inference"),
    )
    async def readyz(self, state: State, inference_limiter: NamedDependency[anyio.CapacityLimiter]) -> Ready:
        """Readiness: the model is loaded and answers one real inference on a blank image, run in the
        inference pool (so a saturated pool shows). HEAD answers the same without a body. Always open
        (no API key needed).

        Errors (problem+json): 503 no model is loaded or its test inference failed."""
        model: DigitModel | None = state.get("model")  # not injected: it may be missing
        reason = await not_ready_reason(model, inference_limiter)
        if model is None or reason is not None:
            raise ApiError(503, reason or "no model is loaded")
        return Ready(model=ModelRef.of(model))
