"""``POST /admin/reload``: pick up a new model version without a restart (see ``service.reload``).

Only with an API key configured (``DIGITS_API_KEY``; ``service.security`` checks it before any handler
runs): an operations route must never be open. With one worker the reload happens in this process and
the answer says what is served now; with several, the candidate is checked here and uvicorn's supervisor
is asked (SIGHUP) to replace the workers one by one, each loading the newest valid model (202).
"""

from __future__ import annotations

import os
import signal
from typing import ClassVar, Literal

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from pydantic import BaseModel, Field

from service.errors import ApiError
from service.openapi import ApiOperation, problem_responses
from service.reload import ModelReloader
from service.schemas import ModelRef
from service.settings import Settings
from service.signals import supervisor_pid


class ReloadReport(BaseModel):
    status: Literal["reloaded", "unchanged", "restarting"] = Field(
        description="reloaded: a new model serves from now on; unchanged: the served model is the newest "
        "valid one; restarting: the workers are being replaced and will serve `model`"
    )
    model: ModelRef = Field(description="the model served after the reload")
    previous: ModelRef | None = Field(None, description="the model served before, if it changed")
    refused: list[str] = Field(
        default_factory=list, description="newer model files that failed their checks (not served)"
    )


class AdminController(Controller):
    path = "/admin"
    tags: ClassVar[list[str]] = ["operations"]

    @post(
        "/reload",
        status_code=200,
        operation_class=ApiOperation,
        summary="Reload the model",
        responses={
            202: ResponseSpec(
                ReloadReport,
                description="several workers: the supervisor is replacing them",
                generate_examples=False,
            ),
            **problem_responses(
                401,
                403,
                422,
                _401="no or a wrong API key",
                _403="admin routes are off: no DIGITS_API_KEY is configured",
                _422="the new model failed its checks; the old one keeps serving",
            ),
        },
    )
    async def reload(self, request: Request, settings: NamedDependency[Settings]) -> Response[ReloadReport]:
        """Load the newest model version (``DIGITS_MODEL_REPOSITORY``) or re-read ``DIGITS_MODEL_PATH``; a
        model that fails the contract check is refused and the old one keeps serving."""
        if not settings.api_key.strip():
            raise ApiError(403, "admin routes are off: set DIGITS_API_KEY to enable them")
        reloader: ModelReloader = request.app.state.reloader
        supervisor = supervisor_pid()
        if supervisor is not None:
            candidate, refused = await reloader.check()
            if candidate is None:
                return self._unchanged_or_refused(request, refused)
            os.kill(supervisor, signal.SIGHUP)
            report = ReloadReport(status="restarting", model=ModelRef.of(candidate), refused=refused)
            return Response(report, status_code=202)
        result = await reloader.reload()
        if result.outcome != "loaded":
            return self._unchanged_or_refused(request, result.refused)
        report = ReloadReport(
            status="reloaded",
            model=ModelRef.of(result.model),
            previous=ModelRef.of(result.previous),
            refused=result.refused,
        )
        return Response(report, status_code=200)

    @staticmethod
    def _unchanged_or_refused(request: Request, refused: list[str]) -> Response[ReloadReport]:
        model = request.app.state.model
        if refused:
            raise ApiError(
                422,
                f"the new model was refused; version {model.version} keeps serving: " + "; ".join(refused),
            )
        return Response(ReloadReport(status="unchanged", model=ModelRef.of(model)), status_code=200)
