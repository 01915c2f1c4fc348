"""Liveness and readiness: ``/healthz`` says the process answers, ``/readyz`` that the model does."""

from __future__ import annotations

from typing import ClassVar

import anyio.to_thread
from litestar import Controller, Request, get

from service.errors import ApiError
from service.model import DigitModel
from service.openapi import ApiOperation, problem_responses
from service.schemas import Health, ModelRef, Ready


class HealthController(Controller):
    tags: ClassVar[list[str]] = ["operations"]

    @get("/healthz", sync_to_thread=False, operation_class=ApiOperation, summary="Liveness")
    def healthz(self) -> Health:
        """The process is up and serving HTTP (no model call: cheap enough for tight probe intervals)."""
        return Health()

    @get(
        "/readyz",
        operation_class=ApiOperation,
        summary="Readiness",
        responses=problem_responses(503, _503="the model failed its test inference"),
    )
    async def readyz(self, request: Request) -> Ready:
        """The model is loaded and answers: one real inference on a blank image, in the inference pool."""
        model: DigitModel | None = request.app.state.get("model")  # not injected: it may be missing
        if model is None:
            raise ApiError(503, "no model is loaded")
        try:
            await anyio.to_thread.run_sync(model.self_test, limiter=request.app.state.inference_limiter)
        except Exception as exc:
            raise ApiError(503, f"the model is loaded but not answering: {exc}") from None
        return Ready(model=ModelRef.of(model))
