"""``POST /predict`` and ``POST /predict/batch``: digits from pictures or from MNIST-format pixels.

One handler reads the body itself because one endpoint takes three media types (the OpenAPI document
lists all three, see ``service.openapi``):

- ``multipart/form-data`` with the file(s) in field ``image`` - what browsers and ``curl -F`` send;
- a raw ``image/*`` body - ``curl --data-binary @digit.png -H 'content-type: image/png'``; a body sent as
  ``application/octet-stream`` or with no content type (as some HTTP tools do) is read when its bytes are
  a picture (``service.images.looks_like_image``), else 415 (also ``application/x-www-form-urlencoded``,
  what ``curl --data-binary`` sends without ``-H``);
- ``application/json`` ``{"pixels": ...}`` / ``{"instances": [...]}``: MNIST format, fed as pixels/255.

Pictures go through ``service.images`` (the one preprocessing). Decoding and inference run together in a
worker thread (bounded by the app's inference limiter), one model call per request, batch or not.
Limits: body bytes (413, ``DIGITS_MAX_BODY_BYTES``), image pixels before decoding (413,
``DIGITS_MAX_IMAGE_PIXELS``; ``DIGITS_MAX_FULL_DECODE_PIXELS`` for pictures not decoded at reduced scale),
batch length (413, ``DIGITS_MAX_BATCH``: the request is too large, the same
answer as the other size limits, and the client's fix is the same - send less).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import anyio
import anyio.to_thread
import numpy as np
import pydantic_core
from litestar import Controller, Request, Response, post
from litestar.datastructures import ResponseHeader, UploadFile
from litestar.di import NamedDependency
from litestar.openapi.spec import Encoding, OpenAPIMediaType, RequestBody, Schema
from litestar.params import QueryParameter
from pydantic import BaseModel

import contract
from service import images
from service import openapi_examples as examples
from service.errors import ApiError
from service.model import DigitModel
from service.openapi import json_schema, operation_with_body, problem_responses
from service.predictions import PREDICTION_ID_HEADER, Recorder, header_value
from service.schemas import BatchPixelsRequest, BatchPrediction, ModelRef, PixelsRequest, Prediction
from service.settings import Settings

IMAGE_FIELD = "image"
ACCEPTED = "application/json, multipart/form-data (field 'image') or a raw image/* body"
# Bodies that do not say what they are: the bytes tell. (curl --data-binary without -H says
# application/x-www-form-urlencoded; a picture is never form data.)
UNLABELLED = ("", "application/octet-stream", "application/x-www-form-urlencoded")

IncludeQuery = Annotated[
    Literal["preprocessed"] | None,
    QueryParameter(description="'preprocessed': also return the 28x28 the model saw (base64 PNG)"),
]


@dataclass
class Inputs:
    """What a request carried, still undecoded: encoded pictures, or a JSON body of MNIST-format pixels.

    Decoding (JSON parsing and validation too: 256 x 784 numbers take tens of ms) happens in the worker
    thread with inference, never on the event loop.
    """

    pictures: list[bytes] | None = None
    json_body: bytes | None = None
    batch: bool = False


# --- reading the body --------------------------------------------------------------------------------


async def read_inputs(request: Request, settings: Settings, *, batch: bool) -> Inputs:
    media_type = request.content_type[0].lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return Inputs(json_body=await request.body(), batch=batch)
    if media_type == "multipart/form-data":
        return Inputs(pictures=await _multipart_pictures(request, settings, batch=batch))
    if media_type.startswith("image/"):
        return Inputs(pictures=[await _raw_picture(request, batch=batch)])
    if media_type in UNLABELLED:
        body = await request.body()
        if images.looks_like_image(body):
            return Inputs(pictures=[await _raw_picture(request, batch=batch)])
        declared = f"content type {media_type!r}" if media_type else "no content type"
        raise _unsupported(
            f"a body with {declared} is not accepted here unless it is a picture "
            f"({', '.join(images.FORMATS)}), and this one is not; send {ACCEPTED}"
        )
    raise _unsupported(f"content type {media_type!r} is not accepted here; send {ACCEPTED}")


async def _raw_picture(request: Request, *, batch: bool) -> bytes:
    if batch:
        raise ApiError(415, f"a raw image body holds one image; for a batch send {ACCEPTED.split(' or')[0]}")
    return await request.body()


def _unsupported(detail: str) -> ApiError:
    return ApiError(415, detail, headers={"accept-post": "application/json, multipart/form-data, image/*"})


def _json_pixels(body: bytes, settings: Settings, *, batch: bool) -> np.ndarray:
    try:
        document = pydantic_core.from_json(body)
    except ValueError as exc:
        raise ApiError(422, f"the body is not valid JSON: {exc}") from None
    if batch:
        if isinstance(document, dict) and isinstance(document.get("instances"), list):
            _check_batch(len(document["instances"]), settings)
        grids = BatchPixelsRequest.model_validate(document).instances
    else:
        grids = [PixelsRequest.model_validate(document).pixels]
    side = contract.IMAGE_SIZE  # each grid may be flat or rows on its own: reshape one by one
    pixels = np.stack([np.asarray(grid, dtype=np.float32).reshape(side, side) for grid in grids])
    for index, grid in enumerate(pixels):
        try:
            images.check_pixels(grid)
        except images.NoInk as exc:
            raise images.NoInk(f"instance {index}: {exc}" if batch else str(exc)) from None
    return pixels


async def _multipart_pictures(request: Request, settings: Settings, *, batch: bool) -> list[bytes]:
    form = await request.form()
    parts = form.getall(IMAGE_FIELD) if IMAGE_FIELD in form else []
    if not parts:
        raise ApiError(
            422, f"the multipart body has no field {IMAGE_FIELD!r}; send the file as {IMAGE_FIELD}=@digit.png"
        )
    if batch:
        _check_batch(len(parts), settings)
    elif len(parts) > 1:
        raise ApiError(422, f"/predict takes one {IMAGE_FIELD!r} file, got {len(parts)}; use /predict/batch")
    pictures = []
    for part in parts:
        if not isinstance(part, UploadFile):
            raise ApiError(422, f"field {IMAGE_FIELD!r} must be a file upload, not a text value")
        pictures.append(await part.read())
    return pictures


def _check_batch(count: int, settings: Settings) -> None:
    if count > settings.max_batch:
        raise ApiError(
            413, f"the batch has {count} images; the limit is {settings.max_batch} (DIGITS_MAX_BATCH)"
        )


# --- inference (runs in a worker thread) --------------------------------------------------------------


def infer(
    model: DigitModel,
    inputs: Inputs,
    settings: Settings,
    *,
    preprocessed: bool,
    recorder: Recorder | None = None,
    route: str = "/predict",
) -> list[Prediction]:
    """Decode the inputs, then :func:`predictions`: one model call for all of them."""
    if inputs.pictures is not None:
        pixels = np.stack(
            [_read(i, data, settings, len(inputs.pictures)) for i, data in enumerate(inputs.pictures)]
        )
    else:
        pixels = _json_pixels(inputs.json_body or b"", settings, batch=inputs.batch)
    return predictions(model, pixels, preprocessed=preprocessed, recorder=recorder, route=route)


def predictions(
    model: DigitModel,
    pixels: np.ndarray,
    *,
    preprocessed: bool,
    recorder: Recorder | None = None,
    route: str = "/predict",
) -> list[Prediction]:
    """MNIST-format pixels [N, 28, 28] -> one model call -> one Prediction each, each with a new
    prediction id: the one place a Prediction is built (/predict, /predict/batch and each digit of
    /read), handed to the sample store's ``recorder`` when it is on."""
    answer = model.classify(contract.to_model_input(pixels))
    ref = ModelRef.of(model)
    seen = np.clip(np.rint(pixels), 0, contract.PIXEL_MAX).astype(np.uint8) if preprocessed else None
    answers = [
        Prediction.of(answer, i, ref, images.png_base64(seen[i]) if seen is not None else None)
        for i in range(len(answer.labels))
    ]
    if recorder is not None:
        recorder.record(
            route,
            [p.prediction_id for p in answers],
            pixels,
            answer.probabilities,
            ref.name,
            ref.version,
            [p.looks_like_digit for p in answers],
        )
    return answers


def _read(index: int, data: bytes, settings: Settings, count: int) -> np.ndarray:
    try:
        return images.read_digit(
            data, max_pixels=settings.max_image_pixels, max_full_decode_pixels=settings.max_full_decode_pixels
        )
    except images.ImageError as exc:
        if count == 1:
            raise
        raise type(exc)(f"image {index}: {exc}") from None


async def run_inference(
    model: DigitModel,
    inputs: Inputs,
    settings: Settings,
    include: str | None,
    limiter: anyio.CapacityLimiter,
    recorder: Recorder | None = None,
    route: str = "/predict",
) -> list[Prediction]:
    """Decode and infer in a worker thread, at most DIGITS_INFERENCE_THREADS at once per process."""
    return await anyio.to_thread.run_sync(
        lambda: infer(
            model, inputs, settings, preprocessed=include == "preprocessed", recorder=recorder, route=route
        ),
        limiter=limiter,
    )


def with_prediction_ids(body: BaseModel, predictions: list[Prediction]) -> Response:
    """The body, with the prediction id(s) also in a header (comma-separated for a batch, in order)."""
    return Response(
        body, headers={PREDICTION_ID_HEADER: header_value([p.prediction_id for p in predictions])}
    )


ID_HEADER = [
    ResponseHeader(
        name=PREDICTION_ID_HEADER,
        description="the prediction id(s) of the body, comma-separated in order for a batch; send one to "
        "POST /feedback to correct it",
        documentation_only=True,
    )
]


# --- OpenAPI: the three body forms ----------------------------------------------------------------------

_BINARY = Schema(type="string", format="binary")


def _body(json_model: type, *, many: bool, description: str) -> RequestBody:
    """The three body forms, each with a real example (``service.openapi_examples``)."""
    files = Schema(type="array", items=_BINARY, min_items=1) if many else _BINARY
    name = "batch" if many else "predict"
    upload = (
        "curl -F image=@digit-7.png -F image=@digit-4.png localhost:8000/predict/batch"
        if many
        else "curl -F image=@digit-7.png localhost:8000/predict"
    )
    content = {
        "multipart/form-data": OpenAPIMediaType(
            schema=Schema(type="object", properties={IMAGE_FIELD: files}, required=[IMAGE_FIELD]),
            encoding={IMAGE_FIELD: Encoding(content_type="image/*")},
            examples={
                "picture": examples.request(
                    f"{name}_pictures" if many else "predict_picture",
                    "pictures drawn on the web page's canvas"
                    if many
                    else "a 7 drawn on the web page's canvas",
                    f"The file(s) in field '{IMAGE_FIELD}': `{upload}`",
                )
            },
        ),
        "application/json": OpenAPIMediaType(
            schema=json_schema(json_model),  # type: ignore[arg-type]
            examples={
                "pixels": examples.request(
                    f"{name}_pixels",
                    "MNIST-format pixels (what the service made of the pictures, ?include=preprocessed)",
                )
            },
        ),
    }
    if not many:
        content["image/*"] = OpenAPIMediaType(
            schema=_BINARY,
            examples={
                "picture": examples.request(
                    "predict_picture",
                    "a 7 drawn on the web page's canvas, as a raw body",
                    "`curl --data-binary @digit-7.png -H 'content-type: image/png' localhost:8000/predict`",
                )
            },
        )
    return RequestBody(content=content, description=description, required=True)


def _answers(*, many: bool) -> dict[int, dict]:
    """Real answers, by status code, for the document."""
    name = "batch" if many else "predict"
    return {
        200: {
            "picture": examples.response(
                f"{name}_pictures" if many else "predict_picture",
                "the 7 and the 4, in order" if many else "the 7, read from the picture",
            ),
            "pixels": examples.response(f"{name}_pixels", "the same, from the MNIST-format pixels"),
        },
        422: {"blank": examples.response("predict_blank", "a blank picture (nothing drawn)")},
    }


ERRORS = problem_responses(
    413,
    415,
    422,
    _413="body over DIGITS_MAX_BODY_BYTES, image over DIGITS_MAX_IMAGE_PIXELS (decoded at full size: "
    "DIGITS_MAX_FULL_DECODE_PIXELS) or batch over DIGITS_MAX_BATCH",
    _415=f"not {ACCEPTED}",
    _422="not an image, a blank image (no ink), or invalid pixels JSON",
)


class PredictController(Controller):
    path = "/predict"
    tags: ClassVar[list[str]] = ["digits"]

    @post(
        "/",
        status_code=200,
        summary="Read one digit",
        responses=ERRORS,
        response_headers=ID_HEADER,
        operation_class=operation_with_body(
            _body(PixelsRequest, many=False, description="a picture of one digit, or MNIST-format pixels"),
            _answers(many=False),
        ),
    )
    async def predict(
        self,
        request: Request,
        model: NamedDependency[DigitModel],
        settings: NamedDependency[Settings],
        inference_limiter: NamedDependency[anyio.CapacityLimiter],
        sample_store: NamedDependency[Recorder | None],
        include: IncludeQuery = None,
    ) -> Response[Prediction]:
        """Reads one handwritten digit and answers the most probable digit, the ten probabilities,
        whether the picture looks like a digit at all (``looks_like_digit``, from ``digit_score``), a
        ``prediction_id`` (also the ``X-Prediction-Id`` header; ``POST /feedback`` corrects it) and the
        model that answered.

        Send a picture as people send it (a photo of paper, a canvas export, a scan, a printed digit:
        PNG, JPEG, GIF, BMP, WebP or TIFF) as a multipart file in field ``image`` or as the raw body
        (``image/*``; ``application/octet-stream`` or no content type work when the bytes are a
        picture). It is brought to MNIST format first (EXIF orientation, transparency, polarity, crop
        to the ink, 20 px box, centred by centre of mass). Or send JSON ``{"pixels": ...}`` already in
        MNIST format (784 numbers 0..255, or 28 rows of 28, white digit on black), used as they are.
        ``?include=preprocessed`` also returns the 28x28 the model saw.

        Limits (``GET /model`` shows this server's values): the body size (``DIGITS_MAX_BODY_BYTES``)
        and the picture's width x height, checked from its header before decoding
        (``DIGITS_MAX_IMAGE_PIXELS``; pictures decoded at full size - PNG, GIF, BMP, WebP, TIFF,
        progressive JPEG - ``DIGITS_MAX_FULL_DECODE_PIXELS``).

        Errors (problem+json): 413 over a limit; 415 a body that is neither JSON, multipart nor a
        picture; 422 a corrupt or blank picture (no ink) or invalid pixels; 401 without the API key
        when one is configured."""
        inputs = await read_inputs(request, settings, batch=False)
        predictions = await run_inference(
            model, inputs, settings, include, inference_limiter, sample_store, "/predict"
        )
        return with_prediction_ids(predictions[0], predictions)

    @post(
        "/batch",
        status_code=200,
        summary="Read several digits in one model call",
        responses=ERRORS,
        response_headers=ID_HEADER,
        operation_class=operation_with_body(
            _body(
                BatchPixelsRequest, many=True, description="repeated 'image' files, or MNIST-format instances"
            ),
            _answers(many=True),
        ),
    )
    async def predict_batch(
        self,
        request: Request,
        model: NamedDependency[DigitModel],
        settings: NamedDependency[Settings],
        inference_limiter: NamedDependency[anyio.CapacityLimiter],
        sample_store: NamedDependency[Recorder | None],
        include: IncludeQuery = None,
    ) -> Response[BatchPrediction]:
        """Reads several digits in one model call, answering one prediction per input, in order.

        Send the pictures as repeated multipart ``image`` fields, or JSON ``{"instances": [pixels,
        ...]}`` with each instance in MNIST format as for ``/predict``. Pictures get the same
        preprocessing as on ``/predict``.

        Limits: at most ``DIGITS_MAX_BATCH`` inputs, the body size (``DIGITS_MAX_BODY_BYTES``) and each
        picture's pixel count (``DIGITS_MAX_IMAGE_PIXELS``).

        Errors (problem+json): 413 over a limit; 415 a raw picture body (a batch needs multipart or
        JSON) or another content type; 422 a corrupt or blank picture (the detail names its index) or
        invalid pixels; 401 without the API key when one is configured."""
        inputs = await read_inputs(request, settings, batch=True)
        predictions = await run_inference(
            model, inputs, settings, include, inference_limiter, sample_store, "/predict/batch"
        )
        return with_prediction_ids(
            BatchPrediction(predictions=predictions, model=ModelRef.of(model)), predictions
        )
