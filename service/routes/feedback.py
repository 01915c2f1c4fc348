"""``POST /feedback`` (a user's correction of a prediction) and ``GET /feedback/summary``.

Both need the sample store (``DIGITS_STORE_URL``); without it they answer 409 saying so. A prediction's
row is written by a background thread, so feedback can arrive before it: an id made in the last
``PENDING_SECONDS`` (ids carry their time, ``service.predictions``) that is not found yet is retried for up
to ``WAIT_SECONDS``, whichever worker or replica holds it; an older unknown id is 404 at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import anyio
import anyio.to_thread
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, RequestBody

from service.errors import ApiError
from service.metrics import FEEDBACK_REQUESTS
from service.openapi import ApiOperation, json_schema, operation_with_body, problem_responses
from service.predictions import id_age_seconds
from service.routes.fit_line import json_only
from service.sample_store import open_store_or_409
from service.schemas import FeedbackRequest, FeedbackStored, FeedbackSummary, ModelRef, VersionFeedbackSummary

PENDING_SECONDS = 30.0  # an id this young may still be in a writer's queue
WAIT_SECONDS = 3.0  # the longest a feedback waits for its prediction's row
FIRST_RETRY_SECONDS = 0.02

BODY = RequestBody(
    content={"application/json": OpenAPIMediaType(schema=json_schema(FeedbackRequest))},  # type: ignore[arg-type]
    description='{"prediction_id": "...", "label": 4} or {"prediction_id": "...", "not_a_digit": true}',
    required=True,
)
STORE_OFF_RESPONSE = "the sample store is off (DIGITS_STORE_URL unset)"


class FeedbackController(Controller):
    path = "/feedback"
    tags: ClassVar[list[str]] = ["feedback"]

    @post(
        status_code=200,
        guards=[json_only],
        summary="Correct a prediction",
        operation_class=operation_with_body(BODY),
        responses=problem_responses(
            404,
            409,
            415,
            422,
            503,
            _503="the store's database is down",
            _404="no stored prediction has this id (never made, not sampled, or deleted by retention)",
            _409=STORE_OFF_RESPONSE,
            _422="not a prediction id, a label outside 0-9, or both/neither of label and not_a_digit",
        ),
    )
    async def feedback(self, request: Request, state: State) -> FeedbackStored:
        """Stores the true digit (or that it is none) with the prediction; sending again replaces it."""
        correction = FeedbackRequest.model_validate_json(await request.body())
        store = open_store_or_409(state)
        label, not_a_digit = correction.label, correction.not_a_digit is True
        from sqlalchemy.exc import SQLAlchemyError  # the store is on: its libraries are loaded already

        from service.store import queries

        def save() -> bool:
            return queries.set_feedback(store.engine, correction.prediction_id, label, not_a_digit)

        try:
            found = await anyio.to_thread.run_sync(save)
            age = id_age_seconds(correction.prediction_id)
            if not found and age is not None and -PENDING_SECONDS < age < PENDING_SECONDS:
                found = await _retry(save)
        except SQLAlchemyError:
            FEEDBACK_REQUESTS.labels("database_error").inc()
            raise ApiError(
                503, "the sample store's database is unavailable; retry later", {"retry-after": "5"}
            ) from None
        if not found:
            FEEDBACK_REQUESTS.labels("unknown_id").inc()
            raise ApiError(
                404,
                f"no stored prediction has id {correction.prediction_id!r}: it was never made here, "
                "was not sampled (DIGITS_STORE_SAMPLE_RATE), or retention deleted it",
            )
        store.writer.feedback_arrived()
        FEEDBACK_REQUESTS.labels("stored").inc()
        return FeedbackStored(prediction_id=correction.prediction_id, label=label, not_a_digit=not_a_digit)

    @get(
        "/summary",
        summary="Feedback so far, per model version",
        operation_class=ApiOperation,
        responses=problem_responses(409, 503, _409=STORE_OFF_RESPONSE, _503="the store's database is down"),
    )
    async def summary(self, state: State) -> FeedbackSummary:
        """Counts, accuracy on the samples users labelled, and the confusion of labels vs predictions."""
        store = open_store_or_409(state)
        from sqlalchemy.exc import SQLAlchemyError

        from service.store import queries

        def read() -> list[queries.VersionFeedback]:
            with store.engine.connect() as connection:
                return queries.feedback_by_version(connection)

        try:
            versions = await anyio.to_thread.run_sync(read)
        except SQLAlchemyError:
            raise ApiError(
                503, "the sample store's database is unavailable; retry later", {"retry-after": "5"}
            ) from None
        return FeedbackSummary(
            versions=[
                VersionFeedbackSummary(
                    model=ModelRef(name=v.model_name, version=v.model_version),
                    stored=v.stored,
                    labelled=v.labelled,
                    correct=v.correct,
                    not_a_digit=v.not_a_digit,
                    accuracy=v.accuracy,
                    confusion=v.confusion,
                )
                for v in versions
            ]
        )


async def _retry(save: Callable[[], bool]) -> bool:
    """Try again with doubling pauses until WAIT_SECONDS have passed: the row is on its way."""
    pause, waited = FIRST_RETRY_SECONDS, 0.0
    while waited < WAIT_SECONDS:
        await anyio.sleep(pause)
        waited += pause
        if await anyio.to_thread.run_sync(save):
            return True
        pause = min(pause * 2, 0.5)
    return False
