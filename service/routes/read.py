"""``POST /read``: a picture of a line of handwritten digits -> the number, digit by digit, left to right.

The same inputs as ``POST /predict`` takes as pictures (multipart field ``image`` or a raw ``image/*``
body; JSON pixels are one 28x28 digit already, so they are /predict's), the same limits, auth, metrics
and problem+json errors. Segmentation is ``service.reading``; each digit's answer is built by the same
``predictions`` helper as /predict's, plus its box. At most ``reading.MAX_DIGITS`` digits (422 above).
"""

from __future__ import annotations

from typing import ClassVar

import anyio.to_thread
import numpy as np
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Encoding, OpenAPIMediaType, RequestBody, Schema

import contract
from service import reading
from service.errors import ApiError
from service.model import DigitModel
from service.openapi import operation_with_body, problem_responses
from service.predictions import Recorder
from service.routes.predict import (
    ID_HEADER,
    IMAGE_FIELD,
    IncludeQuery,
    predictions,
    read_inputs,
    with_prediction_ids,
)
from service.schemas import Box, ModelRef, ReadDigit, ReadResult
from service.settings import Settings

_BINARY = Schema(type="string", format="binary")
BODY = RequestBody(
    content={
        "multipart/form-data": OpenAPIMediaType(
            schema=Schema(type="object", properties={IMAGE_FIELD: _BINARY}, required=[IMAGE_FIELD]),
            encoding={IMAGE_FIELD: Encoding(content_type="image/*")},
        ),
        "image/*": OpenAPIMediaType(schema=_BINARY),
    },
    description=f"a picture of one line of 1 to {reading.MAX_DIGITS} handwritten digits",
    required=True,
)
ERRORS = problem_responses(
    413,
    415,
    422,
    _413="body over DIGITS_MAX_BODY_BYTES or image over DIGITS_MAX_IMAGE_PIXELS",
    _415="not multipart/form-data (field 'image') or a raw image/* body",
    _422=f"not an image, a blank image (no ink), or more than {reading.MAX_DIGITS} digits",
)


def read_number(
    model: DigitModel,
    picture: bytes,
    settings: Settings,
    *,
    preprocessed: bool,
    recorder: Recorder | None = None,
) -> ReadResult:
    """Segment, then one model call for all the digits (runs in a worker thread); each digit is a
    prediction with its own id, handed to the sample store's ``recorder`` when it is on."""

    def score(pixels: np.ndarray) -> np.ndarray:  # candidate pieces: not answers, so not counted
        return model.predict(contract.to_model_input(pixels))

    digits = reading.read_line(
        picture,
        max_pixels=settings.max_image_pixels,
        max_full_decode_pixels=settings.max_full_decode_pixels,
        score=score,
    )
    found = predictions(
        model,
        np.stack([digit.pixels for digit in digits]),
        preprocessed=preprocessed,
        recorder=recorder,
        route="/read",
    )
    read = [
        ReadDigit(**dict(prediction), box=Box(x=x, y=y, width=width, height=height))
        for prediction, (x, y, width, height) in zip(found, (d.box for d in digits), strict=True)
    ]
    return ReadResult(text="".join(str(d.label) for d in read), digits=read, model=ModelRef.of(model))


class ReadController(Controller):
    path = "/read"
    tags: ClassVar[list[str]] = ["digits"]

    @post(
        "/",
        status_code=200,
        summary="Read a number: a line of handwritten digits",
        responses=ERRORS,
        response_headers=ID_HEADER,
        operation_class=operation_with_body(BODY),
    )
    async def read(
        self,
        request: Request,
        model: NamedDependency[DigitModel],
        settings: NamedDependency[Settings],
        inference_limiter: NamedDependency[anyio.CapacityLimiter],
        sample_store: NamedDependency[Recorder | None],
        include: IncludeQuery = None,
    ) -> Response[ReadResult]:
        """A picture of digits written on one line (a postcode, a meter reading, "2026"): each digit's
        label, probabilities, confidence and box, left to right; touching digits are split, broken ones
        kept whole, specks ignored. One digit reads exactly as /predict reads it.

        Send the picture as for /predict (multipart field ``image`` or a raw ``image/*`` body); each
        digit is a prediction with its own ``prediction_id`` (also in ``X-Prediction-Id``, in order).
        ``?include=preprocessed`` adds each digit's 28x28 as the model saw it.

        Limits: the body size (``DIGITS_MAX_BODY_BYTES``), the picture's pixels before decoding
        (``DIGITS_MAX_IMAGE_PIXELS``, ``DIGITS_MAX_FULL_DECODE_PIXELS``), at most 32 digits.

        Errors (problem+json): 413 over a size limit; 415 not a picture (JSON pixels go to /predict);
        422 a corrupt or blank picture (no ink) or more than 32 digits; 401 without the API key when one
        is configured."""
        inputs = await read_inputs(request, settings, batch=False)
        if inputs.pictures is None:
            raise ApiError(
                415,
                "/read takes a picture (multipart field 'image' or an image/* body); JSON pixels: /predict",
            )
        picture = inputs.pictures[0]
        result = await anyio.to_thread.run_sync(
            lambda: read_number(
                model, picture, settings, preprocessed=include == "preprocessed", recorder=sample_store
            ),
            limiter=inference_limiter,
        )
        return with_prediction_ids(result, result.digits)
