"""The Open Inference Protocol (KServe V2) REST API for the digits model, so Triton/KServe clients work as is.

Mounted at `/v2`: health, server and model metadata, and inference (also under `/versions/{version}`),
with Triton's binary tensor data extension (`service.v2_binary`), which tritonclient uses by default.
Errors on these routes use the protocol's `{"error": "..."}` shape: this router's exception handlers
override the app's problem-details ones. Health answers 200 or 4xx with an empty body, as the spec says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from importlib import metadata as package_metadata
from typing import Annotated, Any

import anyio.to_thread
import numpy as np
import pydantic
from litestar import Request, Response, Router, get, post, route
from litestar.di import NamedDependency
from litestar.enums import HttpMethod, MediaType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import HeaderParameter, PathParameter, RawBody

import contract
from service.model import DigitModel
from service.settings import Settings
from service.v2_binary import (
    BINARY_DATA,
    BINARY_DATA_OUTPUT,
    BINARY_DATA_SIZE,
    HEADER_LENGTH,
    ProtocolError,
    binary_chunks,
    binary_size,
    decompress,
    encode_body,
    parse_json_object,
    split_body,
    tensor_from_binary,
    tensor_from_json,
    tensor_to_binary,
)
from service.v2_schemas import (
    ErrorResponse,
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    ModelMetadata,
    RequestInput,
    ServerMetadata,
)

log = logging.getLogger(__name__)

SERVER_NAME = "digits-service"
PLATFORM = "onnxruntime_onnx"  # Triton's platform name for ONNX models served by onnxruntime
DATATYPE = "FP32"
EXTENSIONS = ["binary_tensor_data"]  # Triton's name for the binary tensor data extension
UNSUPPORTED_PARAMETERS = {
    "shared_memory_region": "the shared memory extension is not supported; send the data in the request",
    "classification": "the classification extension is not supported; ask for the probabilities output",
}
# The contract's shapes with the dynamic batch dimension written as the protocol's -1.
INPUT_SHAPE = [-1 if dim is None else dim for dim in contract.INPUT_SHAPE]
OUTPUT_SHAPE = [-1 if dim is None else dim for dim in contract.OUTPUT_SHAPE]
DIGIT_SCORE_SHAPE = [-1 if dim is None else dim for dim in contract.DIGIT_SCORE_SHAPE]

# Path parameters, with examples so API tools (e.g. schemathesis) reach past the 404 of unknown models.
ModelName = Annotated[
    str,
    PathParameter(description="The model's name", examples=[Example(value=contract.MODEL_NAME)]),
]
ModelVersion = Annotated[
    str | None,
    PathParameter(description="The model's version, from its card", examples=[Example(value="1")]),
]
MODEL_PATH = "/models/{model_name:str}"
VERSION_PATH = "/models/{model_name:str}/versions/{model_version:str}"
ERROR_RESPONSES = {
    400: ResponseSpec(ErrorResponse, description="Malformed request: the error says what is wrong"),
    404: ResponseSpec(ErrorResponse, description="Unknown model or version"),
}


def _server_version() -> str:
    try:
        return package_metadata.version(SERVER_NAME)
    except package_metadata.PackageNotFoundError:
        return "0+unknown"


def _empty(status_code: int) -> Response[bytes]:
    """Health answers: the status is the answer, the body is empty (protocol: "should be empty")."""
    return Response(b"", status_code=status_code, media_type=MediaType.TEXT)


def _loaded_model(request: Request[Any, Any, Any]) -> DigitModel | None:
    return getattr(request.app.state, "model", None)


async def _answers(request: Request[Any, Any, Any], model: DigitModel) -> bool:
    """Ready means loaded and answering (as /readyz): one test inference on a blank image, in the pool."""
    try:
        await anyio.to_thread.run_sync(model.self_test, limiter=request.app.state.get("inference_limiter"))
    except Exception as exc:
        log.warning("model failed its readiness inference: %s", exc)
        return False
    return True


def _check_model(model: DigitModel, model_name: str, model_version: str | None) -> None:
    """404 unless the URL names this server's model (and, if given, its version from the model card)."""
    if model_name != model.name:
        raise ProtocolError(f"unknown model '{model_name}'; this server serves '{model.name}'", 404)
    if model_version is not None and model_version != model.version:
        raise ProtocolError(
            f"unknown version '{model_version}' of model '{model.name}'; available: ['{model.version}']", 404
        )


# ---------------------------------------------------------------------------------------------- health


@get("/health/live", summary="Server live", responses={200: ResponseSpec(None, description="Live")})
async def server_live() -> Response[bytes]:
    """200 while the server can answer metadata and inference requests."""
    return _empty(200)


@get(
    "/health/ready",
    summary="Server ready",
    responses={
        200: ResponseSpec(None, description="Ready"),
        400: ResponseSpec(None, description="Not ready"),
    },
)
async def server_ready(request: Request[Any, Any, Any]) -> Response[bytes]:
    """200 when every model (the one digits model) is loaded and answers; 400 otherwise."""
    model = _loaded_model(request)
    return _empty(200 if model is not None and await _answers(request, model) else 400)


@get(
    [MODEL_PATH + "/ready", VERSION_PATH + "/ready"],
    summary="Model ready",
    responses={
        200: ResponseSpec(None, description="Ready"),
        400: ResponseSpec(None, description="Not ready"),
        404: ResponseSpec(None, description="Unknown model or version"),
    },
)
async def model_ready(
    request: Request[Any, Any, Any], model_name: ModelName, model_version: ModelVersion = None
) -> Response[bytes]:
    """200 when the named model (and version) answers; 404 for a model or version this server lacks."""
    model = _loaded_model(request)
    if model is None:
        return _empty(400)
    try:
        _check_model(model, model_name, model_version)
    except ProtocolError as exc:
        return _empty(exc.status_code)
    return _empty(200 if await _answers(request, model) else 400)


# -------------------------------------------------------------------------------------------- metadata


@get("/", summary="Server metadata")
async def server_metadata() -> ServerMetadata:
    """Server name, version and the protocol extensions it speaks."""
    return ServerMetadata(name=SERVER_NAME, version=_server_version(), extensions=EXTENSIONS)


@get([MODEL_PATH, VERSION_PATH], summary="Model metadata", responses=ERROR_RESPONSES)
async def model_metadata(
    model: NamedDependency[DigitModel], model_name: ModelName, model_version: ModelVersion = None
) -> ModelMetadata:
    """The model's real tensor names, datatypes and shapes (batch -1), and its version from the card."""
    _check_model(model, model_name, model_version)
    return ModelMetadata(
        name=model.name,
        versions=[model.version],
        platform=PLATFORM,
        inputs=[MetadataTensor(name=model.input_name, datatype=DATATYPE, shape=INPUT_SHAPE)],
        outputs=[
            MetadataTensor(name=name, datatype=DATATYPE, shape=shape)
            for name, shape in zip(model.output_names, (OUTPUT_SHAPE, DIGIT_SCORE_SHAPE), strict=False)
        ],
    )


# ------------------------------------------------------------------------------------------- inference


def _parse_request(head: bytes) -> InferenceRequest:
    try:
        return InferenceRequest.model_validate(parse_json_object(head))
    except pydantic.ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'request'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise ProtocolError("invalid inference request: " + "; ".join(problems[:5])) from None


def _reject_unsupported(parameters: dict[str, Any], where: str) -> None:
    for key, message in UNSUPPORTED_PARAMETERS.items():
        if key in parameters:
            raise ProtocolError(f"{where}: {message}")


def _read_input(request: InferenceRequest, binary: bytes, model: DigitModel, max_batch: int) -> np.ndarray:
    """The one input checked against the model contract -> float32 [N, 1, 28, 28] in [0, 1]."""
    names = [tensor.name for tensor in request.inputs]
    if names != [model.input_name]:
        raise ProtocolError(f"model '{model.name}' takes exactly one input '{model.input_name}', got {names}")
    tensor: RequestInput = request.inputs[0]
    where = f"input '{tensor.name}'"
    _reject_unsupported(tensor.parameters, where)
    if tensor.datatype != DATATYPE:
        raise ProtocolError(f"{where} must have datatype {DATATYPE}, got '{tensor.datatype}'")
    if len(tensor.shape) != len(INPUT_SHAPE) or tensor.shape[1:] != INPUT_SHAPE[1:]:
        raise ProtocolError(f"{where} must have shape {['N', *INPUT_SHAPE[1:]]}, got {tensor.shape}")
    batch = tensor.shape[0]
    if batch < 1:
        raise ProtocolError(f"{where}: the batch dimension must be at least 1, got {batch}")
    if batch > max_batch:
        raise ProtocolError(
            f"{where}: batch of {batch} is over this server's limit of {max_batch} (DIGITS_MAX_BATCH)"
        )

    size = binary_size(tensor.parameters, tensor.name)
    if size is not None and tensor.data is not None:
        raise ProtocolError(f"{where} has both 'data' and parameters.{BINARY_DATA_SIZE}; give one")
    if size is None and tensor.data is None:
        raise ProtocolError(
            f"{where} has no data: give 'data' or parameters.{BINARY_DATA_SIZE} with binary data"
        )
    if size and not binary:
        raise ProtocolError(
            f"{where} declares {BINARY_DATA_SIZE} but no binary data follows the JSON "
            f"(is the {HEADER_LENGTH} header set?)"
        )
    chunk = binary_chunks([size], binary)[0]
    if chunk is not None:
        array = tensor_from_binary(chunk, tensor.datatype, tensor.shape, tensor.name)
    else:
        array = tensor_from_json(tensor.data or [], tensor.datatype, tensor.shape, tensor.name)
    if not np.all(np.isfinite(array)):
        raise ProtocolError(f"{where} holds NaN or infinite values")
    if array.size and (float(array.min()) < 0.0 or float(array.max()) > 1.0):
        raise ProtocolError(
            f"{where} values must be in [0, 1] (pixels / {contract.PIXEL_MAX:g}), as the model contract says"
        )
    return array


def _binary_flag(parameters: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{where}: parameter '{key}' must be true or false, got {value!r}")
    return value


def _requested_outputs(request: InferenceRequest, model: DigitModel) -> list[tuple[str, bool]]:
    """(output name, as binary?) for each output to return; no `outputs` means all, as JSON by default."""
    default = _binary_flag(request.parameters, BINARY_DATA_OUTPUT, False, "request")
    if not request.outputs:
        return [(name, default) for name in model.output_names]
    selected: list[tuple[str, bool]] = []
    for output in request.outputs:
        where = f"output '{output.name}'"
        if output.name not in model.output_names:
            raise ProtocolError(
                f"unknown output '{output.name}'; model '{model.name}' has outputs {list(model.output_names)}"
            )
        if any(name == output.name for name, _ in selected):
            raise ProtocolError(f"{where} is requested twice")
        _reject_unsupported(output.parameters, where)
        selected.append((output.name, _binary_flag(output.parameters, BINARY_DATA, default, where)))
    return selected


def _run_inference(
    model: DigitModel,
    settings: Settings,
    body: bytes,
    header_length: str | None,
    content_encoding: str | None,
) -> Response[bytes]:
    """Decompress, parse, check, infer and encode: CPU work, run in an inference worker thread."""
    payload = decompress(body, content_encoding, limit=settings.max_body_bytes)
    head, binary = split_body(payload, header_length)
    request = _parse_request(head)
    images = _read_input(request, binary, model, settings.max_batch)
    outputs = _requested_outputs(request, model)

    results = model.classify(images).outputs

    header: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if request.id is not None:
        header["id"] = request.id
    header["outputs"] = []
    chunks: list[bytes] = []
    for name, as_binary in outputs:
        array = results[name]
        tensor: dict[str, Any] = {"name": name, "datatype": DATATYPE, "shape": list(array.shape)}
        if as_binary:
            chunk = tensor_to_binary(array, DATATYPE)
            tensor["parameters"] = {BINARY_DATA_SIZE: len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = array.ravel().tolist()
        header["outputs"].append(tensor)
    content, json_length = encode_body(header, chunks)
    if json_length is None:
        return Response(content, media_type=MediaType.JSON)
    return Response(content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(json_length)})


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline_refs(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {key: _inline_refs(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(value, defs) for value in node]
    return node


def _request_schema() -> dict[str, Any]:
    """The protocol's request schema narrowed to what the digits model takes, sub-models inlined."""
    side = contract.IMAGE_SIZE
    schema = InferenceRequest.model_json_schema()
    defs = schema.pop("$defs")
    tensor = defs["RequestInput"]["properties"]
    tensor["name"] = {"type": "string", "enum": [contract.INPUT_NAME]}
    tensor["datatype"] = {"type": "string", "enum": [DATATYPE]}
    tensor["shape"] = {
        "type": "array",
        "description": f"[N, 1, {side}, {side}]: N images of 1 channel, {side}x{side}, values in [0, 1]",
        "prefixItems": [{"type": "integer", "minimum": 1}, *({"const": dim} for dim in INPUT_SHAPE[1:])],
        "minItems": len(INPUT_SHAPE),
        "maxItems": len(INPUT_SHAPE),
    }
    tensor["data"] = {
        "type": "array",
        "description": f"N x {side * side} numbers in [0, 1], row-major: flat, or nested as "
        f"[N][1][{side}][{side}]",
        "items": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "array"}]},
        "minItems": 1,
    }
    defs["RequestInput"]["required"] = ["name", "shape", "datatype", "data"]  # JSON bodies carry the data
    defs["RequestOutput"]["properties"]["name"] = {
        "type": "string",
        "enum": [contract.OUTPUT_NAME, contract.DIGIT_SCORE_NAME],
        "description": f"'{contract.DIGIT_SCORE_NAME}' only where the model has it (version 2 on)",
    }
    schema["properties"]["inputs"]["maxItems"] = 1
    return _inline_refs(schema, defs)


_OCTETS = "application/octet-stream"
_FRAMED = Schema(
    type="string",
    format="binary",
    description=f"The JSON inference object ({HEADER_LENGTH} bytes), then each binary tensor's bytes",
)


@dataclass
class InferOperation(Operation):
    """OpenAPI for `infer`, which reads its body itself: JSON, or JSON followed by binary tensor data."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={
                MediaType.JSON: OpenAPIMediaType(schema=_request_schema()),  # type: ignore[arg-type]
                _OCTETS: OpenAPIMediaType(schema=_FRAMED),
            },
        )
        ok = (self.responses or {}).get("200")
        if ok is not None and not isinstance(ok, dict) and getattr(ok, "content", None):
            ok.content[_OCTETS] = OpenAPIMediaType(schema=_FRAMED)  # type: ignore[union-attr, index]


@post(
    [MODEL_PATH + "/infer", VERSION_PATH + "/infer"],
    operation_class=InferOperation,
    summary="Inference",
    status_code=200,
    responses={
        200: ResponseSpec(
            InferenceResponse,
            description=f"JSON; or, when an output is asked as binary data, application/octet-stream: "
            f"the JSON ({HEADER_LENGTH} bytes) followed by the output tensors' bytes",
        ),
        **ERROR_RESPONSES,
        413: ResponseSpec(ErrorResponse, description="Request body over the size limit"),
        415: ResponseSpec(ErrorResponse, description="Unsupported Content-Encoding"),
    },
)
async def infer(
    request: Request[Any, Any, Any],
    model: NamedDependency[DigitModel],
    settings: NamedDependency[Settings],
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
    _check_model(model, model_name, model_version)
    return await anyio.to_thread.run_sync(
        partial(_run_inference, model, settings, body, header_length, content_encoding),
        limiter=request.app.state.get("inference_limiter"),
    )


@route(
    ["/models", "/{path:path}", MODEL_PATH + "/{path:path}", VERSION_PATH + "/{path:path}"],
    http_method=[HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.DELETE, HttpMethod.PATCH],
    include_in_schema=False,
)
async def not_found(request: Request[Any, Any, Any]) -> None:
    """Anything else under /v2 (e.g. Triton's repository, config or statistics APIs): 404, V2 shape."""
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
    if exc.status_code == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        message = f"request body is larger than the limit of {limit} bytes (DIGITS_MAX_BODY_BYTES)"
    response = _error(exc.status_code, message)
    response.headers.update(exc.headers or {})  # e.g. Retry-After of the rate limit
    return response


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "the server failed to answer this request; the error is logged")


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
        infer,
        infer_wrong_method,
        not_found,
    ],
    exception_handlers=V2_EXCEPTION_HANDLERS,
    tags=["Open Inference Protocol (V2)"],
)
