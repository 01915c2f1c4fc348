"""The Open Inference Protocol's REST transport, mounted at ``/v2``: health, metadata and inference.

Health, server and model metadata, and inference (also under ``/versions/{version}``), with Triton's
binary tensor data extension (``service.v2.binary``), which tritonclient uses by default. The model work
is ``service.v2.inference`` (shared with gRPC, ``service.v2.grpc``); this module reads and writes HTTP.
The extensions in Triton's shapes: statistics, model configuration, model repository (index, load =
the reload, unload refused) and classification (an output parameter of inference). Errors on these
routes use the protocol's ``{"error": "..."}`` shape: this router's exception handlers override the app's
problem-details ones, and :func:`v2_aware` does the same for errors raised before routing (405).
Health answers its status with KServe's bodies (``{"live": true}``, ``{"ready": true}``), GET or HEAD.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
import pydantic
from litestar import Request, Response, Router, get, post, route
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import HttpMethod, MediaType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, PathParameter, RawBody

import contract
from service.errors import log_internal_error
from service.model import DigitModel
from service.predictions import PREDICTION_ID_HEADER, Recorder, header_value
from service.readiness import not_ready_reason
from service.settings import Settings
from service.v2 import inference
from service.v2 import repository as v2_repository
from service.v2.binary import (
    BINARY_DATA_SIZE,
    HEADER_LENGTH,
    decompress,
    encode_body,
    parse_json_object,
    split_body,
    tensor_to_binary,
    tensor_to_json,
)
from service.v2.errors import ProtocolError
from service.v2.inference import InferenceResult, check_model
from service.v2.model_config import message_json, model_config
from service.v2.openapi import (
    ERROR_RESPONSES,
    INFER_RESPONSES,
    InferOperation,
    V2Operation,
    V2PublicOperation,
    optional_body_operation,
)
from service.v2.schemas import (
    ErrorResponse,
    ModelMetadata,
    ModelReady,
    RepositoryIndexEntry,
    RepositoryIndexRequest,
    RepositoryLoadRequest,
    RepositoryLoadResponse,
    ServerLive,
    ServerMetadata,
    ServerReady,
)
from service.v2.statistics import InferenceTimer, statistics

# Path parameters, constrained in the document (enum, pattern) so API tools (e.g. schemathesis) reach
# past the 404 of unknown models; the handlers still answer any other value with the protocol's 404.
ModelName = Annotated[
    str,
    PathParameter(
        description="The model's name",
        examples=[Example(value=contract.MODEL_NAME)],
        schema_extra={"enum": [contract.MODEL_NAME]},
    ),
]
ModelVersion = Annotated[
    str | None,
    PathParameter(
        description="The model's version, from its card",
        examples=[Example(value="1")],
        schema_extra={"pattern": "^[0-9]{1,19}$"},
    ),
]
AnyModelName = Annotated[
    str | None,
    PathParameter(
        description="The model's name (absent: all models)", schema_extra={"enum": [contract.MODEL_NAME]}
    ),
]
MODEL_PATH = "/models/{model_name:str}"
VERSION_PATH = "/models/{model_name:str}/versions/{model_version:str}"
HEALTH_METHODS = [HttpMethod.GET, HttpMethod.HEAD]  # probes may ask with HEAD; the status is the answer


def _json(body: Any, status_code: int = 200) -> Response[Any]:
    return Response(body, status_code=status_code, media_type=MediaType.JSON)


def _loaded_model(state: State) -> DigitModel | None:
    return state.get("model")  # not injected: it may be missing


# ---------------------------------------------------------------------------------------------- health


@route(
    "/health/live",
    http_method=HEALTH_METHODS,
    operation_class=V2PublicOperation,
    summary="Server live",
    responses={200: ResponseSpec(ServerLive, description="Live")},
)
async def server_live() -> Response[ServerLive]:
    """200 and `{"live": true}` while the server can answer metadata and inference requests."""
    return _json(ServerLive(live=True))


@route(
    "/health/ready",
    http_method=HEALTH_METHODS,
    operation_class=V2PublicOperation,
    summary="Server ready",
    responses={
        200: ResponseSpec(ServerReady, description="Ready"),
        400: ResponseSpec(ServerReady, description="Not ready"),
    },
)
async def server_ready(
    state: State, inference_limiter: NamedDependency[anyio.CapacityLimiter]
) -> Response[ServerReady]:
    """200 `{"ready": true}` when every model (the one digits model) is loaded and answers; 400 otherwise."""
    ready = await not_ready_reason(_loaded_model(state), inference_limiter) is None
    return _json(ServerReady(ready=ready), 200 if ready else 400)


@route(
    [MODEL_PATH + "/ready", VERSION_PATH + "/ready"],
    http_method=HEALTH_METHODS,
    operation_class=V2Operation,
    summary="Model ready",
    responses={
        200: ResponseSpec(ModelReady, description="Ready"),
        400: ResponseSpec(ModelReady, description="Not ready"),
        404: ResponseSpec(ErrorResponse, description="Unknown model or version"),
    },
)
async def model_ready(
    state: State,
    inference_limiter: NamedDependency[anyio.CapacityLimiter],
    model_name: ModelName,
    model_version: ModelVersion = None,
) -> Response[ModelReady]:
    """200 when the named model (and version) answers, 400 while not; 404 for a model or version this
    server lacks."""
    model = _loaded_model(state)
    if model is not None:
        check_model(model, model_name, model_version)
    ready = await not_ready_reason(model, inference_limiter) is None
    return _json(ModelReady(name=model_name, ready=ready), 200 if ready else 400)


# -------------------------------------------------------------------------------------------- metadata


@get("/", operation_class=V2Operation, summary="Server metadata")
async def server_metadata() -> ServerMetadata:
    """Server name, version and the protocol extensions it speaks."""
    return inference.server_metadata()


@get(
    [MODEL_PATH, VERSION_PATH],
    operation_class=V2Operation,
    summary="Model metadata",
    responses=ERROR_RESPONSES,
)
async def model_metadata(
    model: NamedDependency[DigitModel], model_name: ModelName, model_version: ModelVersion = None
) -> ModelMetadata:
    """The model's real tensor names, datatypes and shapes (batch -1), and its version from the card."""
    check_model(model, model_name, model_version)
    return inference.model_metadata(model)


# ------------------------------------------------------------------------------------------ extensions


@get(
    [MODEL_PATH + "/config", VERSION_PATH + "/config"],
    operation_class=V2Operation,
    summary="Model configuration",
    responses=ERROR_RESPONSES,
)
async def model_configuration(
    model: NamedDependency[DigitModel],
    settings: NamedDependency[Settings],
    model_name: ModelName,
    model_version: ModelVersion = None,
) -> dict[str, Any]:
    """Triton's model configuration of the served model (the facts of models/digits/config.pbtxt;
    max_batch_size is this server's DIGITS_MAX_BATCH)."""
    check_model(model, model_name, model_version)
    return message_json(model_config(model, settings.max_batch))


@get(
    ["/models/stats", MODEL_PATH + "/stats", VERSION_PATH + "/stats"],
    operation_class=V2Operation,
    summary="Model statistics",
    responses=ERROR_RESPONSES,
)
async def model_statistics(
    model: NamedDependency[DigitModel], model_name: AnyModelName = None, model_version: ModelVersion = None
) -> dict[str, Any]:
    """Triton's inference statistics since the server started, summed over all worker processes."""
    if model_name is not None:
        check_model(model, model_name, model_version)
    return await anyio.to_thread.run_sync(statistics, model)  # reads every worker's metrics files


BodyModel = TypeVar("BodyModel", bound=pydantic.BaseModel)


def _optional_body(body: bytes, model: type[BodyModel]) -> BodyModel:
    """A repository request's JSON body, strictly (``{"ready": 0}`` is no boolean); empty means defaults."""
    if not body.strip():
        return model()
    try:
        return model.model_validate_json(body, strict=True)
    except pydantic.ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
        raise ProtocolError("invalid request body: " + "; ".join(problems[:5])) from None


@post(
    "/repository/index",
    operation_class=optional_body_operation(RepositoryIndexRequest),
    summary="Model repository index",
    status_code=200,
    responses=ERROR_RESPONSES,
)
async def repository_index(
    model: NamedDependency[DigitModel],
    settings: NamedDependency[Settings],
    body: RawBody,
) -> list[RepositoryIndexEntry]:
    """Every version this server knows and its state (READY: served; UNAVAILABLE: not served)."""
    ready_only = _optional_body(body, RepositoryIndexRequest).ready
    entries = v2_repository.repository_index(model, settings, ready_only)
    return [RepositoryIndexEntry(**entry) for entry in entries]


@post(
    "/repository/models/{model_name:str}/load",
    operation_class=optional_body_operation(RepositoryLoadRequest),
    summary="Load (reload) a model",
    status_code=200,
    responses={**ERROR_RESPONSES, 403: ResponseSpec(ErrorResponse, description="No API key configured")},
)
async def repository_load(
    request: Request[Any, Any, Any],
    model: NamedDependency[DigitModel],
    settings: NamedDependency[Settings],
    model_name: ModelName,
    body: RawBody,
) -> RepositoryLoadResponse:
    """The reload of /admin/reload: the newest valid version serves from now on (needs DIGITS_API_KEY).
    Answers KServe's `{"name", "load": true}` (Triton's clients read only the status)."""
    parameters = _optional_body(body, RepositoryLoadRequest).parameters
    await v2_repository.load(request.app.state.reloader, model, settings, model_name, parameters)
    return RepositoryLoadResponse(name=model_name, load=True)


@post(
    "/repository/models/{model_name:str}/unload",
    operation_class=optional_body_operation(RepositoryLoadRequest),
    summary="Unload a model (refused)",
    status_code=200,
    responses={**ERROR_RESPONSES, 403: ResponseSpec(ErrorResponse, description="No API key configured")},
)
async def repository_unload(
    model: NamedDependency[DigitModel],
    settings: NamedDependency[Settings],
    model_name: ModelName,
    body: RawBody,
) -> None:
    """Always refused with 400 (this server serves its one model until it stops)."""
    _optional_body(body, RepositoryLoadRequest)  # Triton's unload_dependents: nothing depends on digits
    v2_repository.unload(model, settings, model_name)


# ------------------------------------------------------------------------------------------- inference


def _run_inference(
    model: DigitModel,
    settings: Settings,
    body: bytes,
    header_length: str | None,
    content_encoding: str | None,
    timer: InferenceTimer,
    recorder: Recorder | None = None,
) -> Response[bytes]:
    """Decompress, parse, infer and encode: CPU work, run in an inference worker thread."""
    timer.lap("queue")
    try:
        payload = decompress(body, content_encoding, limit=settings.max_body_bytes)
        head, binary = split_body(payload, header_length)
        request = inference.validate_request(parse_json_object(head))
        result = inference.infer(model, request, binary, settings.max_batch, timer, recorder)
        response = _rest_response(result)
    except ProtocolError:
        timer.failed(model)
        raise
    timer.lap("compute_output")
    timer.succeeded(model, result.batch)
    return response


def _rest_response(result: InferenceResult) -> Response[bytes]:
    """The result as a REST body: JSON, followed by the binary outputs' bytes if any were asked so."""
    header: dict[str, Any] = {"model_name": result.model_name, "model_version": result.model_version}
    if result.id is not None:
        header["id"] = result.id
    ids = header_value(result.prediction_ids)
    header["parameters"] = {inference.PREDICTION_ID_PARAMETER: ids}
    header["outputs"] = []
    chunks: list[bytes] = []
    for output in result.outputs:
        tensor: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": list(output.array.shape),
        }
        if output.as_binary:
            chunk = tensor_to_binary(output.array, output.datatype)
            tensor["parameters"] = {BINARY_DATA_SIZE: len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = tensor_to_json(output.array, output.datatype)
        header["outputs"].append(tensor)
    content, json_length = encode_body(header, chunks)
    if json_length is None:
        return Response(content, media_type=MediaType.JSON, headers={PREDICTION_ID_HEADER: ids})
    return Response(
        content,
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(json_length), PREDICTION_ID_HEADER: ids},
    )


@post(
    [MODEL_PATH + "/infer", VERSION_PATH + "/infer"],
    operation_class=InferOperation,
    summary="Inference",
    status_code=200,
    responses=INFER_RESPONSES,
)
async def infer(
    model: NamedDependency[DigitModel],
    settings: NamedDependency[Settings],
    inference_limiter: NamedDependency[anyio.CapacityLimiter],
    sample_store: NamedDependency[Recorder | None],
    model_name: ModelName,
    body: RawBody,
    header_length: Annotated[
        str | None,
        HeaderParameter(
            name=HEADER_LENGTH, required=False, description="Length of the JSON when binary data follows"
        ),
    ] = None,
    content_encoding: Annotated[
        str | None,
        HeaderParameter(
            name="Content-Encoding",
            required=False,
            description="Compression of the request body",
            schema_extra={"enum": ["gzip", "deflate", "identity"]},
        ),
    ] = None,
    model_version: ModelVersion = None,
) -> Response[bytes]:
    """Run the model on a V2 inference request: JSON `data` or binary tensor data, outputs as asked.

    Everything after reading the body runs in a worker thread bounded by the app's inference limiter,
    like /predict, so the event loop never waits on parsing or onnxruntime.
    """
    timer = InferenceTimer()  # queue time starts here: waiting for a slot of the inference limiter
    check_model(model, model_name, model_version)
    return await anyio.to_thread.run_sync(
        partial(_run_inference, model, settings, body, header_length, content_encoding, timer, sample_store),
        limiter=inference_limiter,
    )


@route(
    ["/models", "/{path:path}", MODEL_PATH + "/{path:path}", VERSION_PATH + "/{path:path}"],
    http_method=[HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.DELETE, HttpMethod.PATCH],
    include_in_schema=False,
)
async def not_found(request: Request[Any, Any, Any]) -> None:
    """Anything else under /v2 (e.g. Triton's trace or logging APIs): 404, in the V2 shape."""
    raise ProtocolError(f"{request.url.path} is not part of this server's V2 API", 404)


@route(
    [MODEL_PATH + "/infer", VERSION_PATH + "/infer"],
    http_method=[HttpMethod.GET, HttpMethod.PUT, HttpMethod.DELETE, HttpMethod.PATCH],
    status_code=405,
    include_in_schema=False,
)
async def infer_wrong_method(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """The framework's 405 would answer in the app's shape; this route keeps the V2 one."""
    message = f"{request.method} is not allowed on {request.url.path}; use POST"
    return Response({"error": message}, status_code=405, media_type=MediaType.JSON, headers={"Allow": "POST"})


# -------------------------------------------------------------------------------------------- errors


def _error(status_code: int, message: str) -> Response[dict[str, str]]:
    return Response({"error": message}, status_code=status_code, media_type=MediaType.JSON)


def _protocol_error(_: Request[Any, Any, Any], exc: ProtocolError) -> Response[dict[str, str]]:
    return _error(exc.status_code, str(exc))


def _http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """The framework's own errors (body too large, bad parameters, method not allowed) in the V2 shape."""
    if not isinstance(exc, HTTPException):
        return _unexpected(request, exc)
    message = str(exc.detail or "")
    if isinstance(exc, ValidationException) and exc.extra:
        message = f"{message}: {exc.extra}"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("allow", "see /schema")
        message = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
    if exc.status_code == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        message = f"request body is larger than the limit of {limit} bytes (DIGITS_MAX_BODY_BYTES)"
    response = _error(exc.status_code, message)
    response.headers.update(exc.headers or {})  # e.g. Retry-After of the rate limit
    return response


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    return _error(500, log_internal_error(request, exc))


def v2_aware(handler: Callable[[Request[Any, Any, Any], HTTPException], Response[Any]]) -> Any:
    """The app's HTTPException handler, answering in the V2 shape under /v2: errors raised before a
    route is chosen (405 for a method a /v2 path lacks) never reach this router's handlers."""

    def handle(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        path = request.url.path
        if path == v2_router.path or path.startswith(v2_router.path + "/"):
            return _http_error(request, exc)
        return handler(request, exc)

    return handle


# Status codes first: Litestar looks handlers up by status code before exception class, so an
# app-level handler registered for e.g. 404 would otherwise win over this router's class handlers.
V2_EXCEPTION_HANDLERS: dict[Any, Any] = {
    **dict.fromkeys(range(400, 600), _http_error),
    HTTPException: _http_error,
    ProtocolError: _protocol_error,
    Exception: _unexpected,
}

v2_router = Router(
    path="/v2",
    route_handlers=[
        server_metadata,
        server_live,
        server_ready,
        model_metadata,
        model_ready,
        model_configuration,
        model_statistics,
        repository_index,
        repository_load,
        repository_unload,
        infer,
        infer_wrong_method,
        not_found,
    ],
    exception_handlers=V2_EXCEPTION_HANDLERS,
    tags=["Open Inference Protocol (V2)"],
)
