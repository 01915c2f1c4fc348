"""Liveness and readiness: ``/healthz`` says the process answers, ``/readyz`` that the model does."""

from __future__ import annotations

from typing import ClassVar

import anyio
from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency

from service.errors import ApiError
from service.model import DigitModel
from service.openapi import PublicOperation, problem_responses
from service.readiness import not_ready_reason
from service.schemas import Health, ModelRef, Ready


class HealthController(Controller):
    tags: ClassVar[list[str]] = ["operations"]

    @get("/healthz", sync_to_thread=False, operation_class=PublicOperation, summary="Liveness")
    def healthz(self) -> Health:
        """The process is up and serving HTTP (no model call: cheap enough for tight probe intervals)."""
        return Health()

    @get(
        "/readyz",
        operation_class=PublicOperation,
        summary="Readiness",
        responses=problem_responses(503, _503="the model failed its test inference"),
    )
    async def readyz(self, state: State, inference_limiter: NamedDependency[anyio.CapacityLimiter]) -> Ready:
        """The model is loaded and answers: one real inference on a blank image, in the inference pool."""
        model: DigitModel | None = state.get("model")  # not injected: it may be missing
        reason = await not_ready_reason(model, inference_limiter)
        if model is None or reason is not None:
            raise ApiError(503, reason or "no model is loaded")
        return Ready(model=ModelRef.of(model))
