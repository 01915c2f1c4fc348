"""``POST /fit-line``: the lesson's line fit as a service (``service.linefit`` does the maths).

Bad data or options answer 422 saying what is wrong; a diverging learning rate is a result
(``status: diverged``). The work is bounded (``DIGITS_FIT_MAX_POINTS``, ``DIGITS_FIT_MAX_WORK`` =
points x epochs) and runs in a worker thread, in the same bounded pool as inference
(``DIGITS_INFERENCE_THREADS``), so the event loop stays free and fits cannot crowd out /predict.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import anyio
import anyio.to_thread
from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, RequestBody
from litestar.params import QueryParameter

from service import linefit
from service.errors import ApiError
from service.openapi import json_schema, operation_with_body, problem_responses
from service.schemas import FitLineRequest, FitLineResponse, FitOptionsUsed
from service.settings import Settings


def json_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a body declared as something other than JSON is 415 (a missing content type is read as JSON)."""
    declared = connection.headers.get("content-type")
    if declared:
        media_type = declared.split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise ApiError(415, f"content type {media_type!r} is not accepted here; send application/json")


def run_fit(request: FitLineRequest, settings: Settings, *, trajectory: bool) -> FitLineResponse:
    x, y = request.xy()
    if len(x) > settings.fit_max_points:
        raise ApiError(
            422,
            f"{len(x)} points is more than the limit of {settings.fit_max_points} (DIGITS_FIT_MAX_POINTS)",
        )
    work = linefit.work_units(len(x), request.epochs)
    if work > settings.fit_max_work:
        raise ApiError(
            422,
            f"{len(x)} points x {request.epochs} epochs = {work} is more work than the limit of "
            f"{settings.fit_max_work} (DIGITS_FIT_MAX_WORK); use fewer epochs or points",
        )
    # The request's SGD options are FitOptionsUsed's fields; the response echoes them back as used.
    options = linefit.FitOptions(**request.model_dump(include=set(FitOptionsUsed.model_fields)))
    result = linefit.fit_line(x, y, options, record_trajectory=trajectory)
    return FitLineResponse.model_validate({**vars(result), "options": options}, from_attributes=True)


# The body is validated here with pydantic itself: Litestar's own pydantic decoding passes strict=False,
# which would accept "yes" for a bool and "1" for a number.
BODY = RequestBody(
    content={"application/json": OpenAPIMediaType(schema=json_schema(FitLineRequest))},  # type: ignore[arg-type]
    description="points as x and y, or as points, plus SGD options",
    required=True,
)


class FitLineController(Controller):
    path = "/fit-line"
    tags: ClassVar[list[str]] = ["line fit"]

    @post(
        status_code=200,
        guards=[json_only],
        summary="Fit y = slope * x + intercept by mini-batch SGD",
        operation_class=operation_with_body(BODY),
        responses=problem_responses(
            415,
            422,
            503,
            _503="the fit took longer than DIGITS_FIT_TIME_LIMIT",
            _422="fewer than 2 points, all x equal, mismatched lengths, non-finite numbers, "
            "options out of range, or more work than the budget",
        ),
    )
    async def fit_line(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        inference_limiter: NamedDependency[anyio.CapacityLimiter],
        include: Annotated[
            Literal["trajectory"] | None,
            QueryParameter(description="'trajectory': also return [slope, intercept] along the way"),
        ] = None,
    ) -> FitLineResponse:
        """SGD on the mean squared error, beside the exact least-squares answer (``closed_form``)."""
        body = await request.body()  # parsed and validated in the worker thread: big bodies take a while
        try:
            # Time limit (waiting for a thread included); the work budget above bounds the CPU an
            # abandoned fit can still spend.
            with anyio.fail_after(settings.fit_time_limit):
                return await anyio.to_thread.run_sync(
                    lambda: run_fit(
                        FitLineRequest.model_validate_json(body), settings, trajectory=include == "trajectory"
                    ),
                    abandon_on_cancel=True,
                    # The same slots as inference: a burst of fits cannot take the GIL from /predict.
                    limiter=inference_limiter,
                )
        except TimeoutError:
            raise ApiError(
                503,
                f"the fit did not finish within {settings.fit_time_limit:g} s (DIGITS_FIT_TIME_LIMIT); "
                "the server is busy, retry later or send less work",
                headers={"retry-after": "1"},
            ) from None
