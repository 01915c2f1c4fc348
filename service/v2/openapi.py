"""OpenAPI pieces of the V2 REST routes: the error responses and the inference body (JSON or binary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from litestar.enums import MediaType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, RequestBody, Schema
from pydantic import BaseModel

import contract
from service.openapi import GuardedOperation
from service.v2.binary import HEADER_LENGTH
from service.v2.inference import DATATYPE, INPUT_SHAPE
from service.v2.schemas import ErrorResponse, InferenceRequest, InferenceResponse


@dataclass
class V2Operation(GuardedOperation):
    """A V2 operation: with an API key configured, its 401 is in the protocol's error shape."""

    error_media_type: ClassVar[str] = MediaType.JSON
    error_schema: ClassVar[str] = ErrorResponse.__name__


@dataclass
class V2PublicOperation(V2Operation):
    """V2 health: open without a key."""

    public: ClassVar[bool] = True


def optional_body_operation(model: type[BaseModel]) -> type[V2Operation]:
    """An operation class documenting an optional JSON body of ``model`` (Triton's repository API posts
    none at all), for handlers that read their raw body and validate it strictly themselves."""

    @dataclass
    class OptionalBodyOperation(V2Operation):
        def __post_init__(self) -> None:
            schema = Schema(
                **{key: value for key, value in model.model_json_schema().items() if key != "title"}
            )
            self.request_body = RequestBody(
                required=False, content={MediaType.JSON: OpenAPIMediaType(schema=schema)}
            )
            super().__post_init__()

    return OptionalBodyOperation


ERROR_RESPONSES = {
    400: ResponseSpec(ErrorResponse, description="Malformed request: the error says what is wrong"),
    404: ResponseSpec(ErrorResponse, description="Unknown model or version"),
}
INFER_RESPONSES = {
    200: ResponseSpec(
        InferenceResponse,
        description=f"JSON; or, when an output is asked as binary data, application/octet-stream: "
        f"the JSON ({HEADER_LENGTH} bytes) followed by the output tensors' bytes",
    ),
    **ERROR_RESPONSES,
    413: ResponseSpec(ErrorResponse, description="Request body over the size limit"),
    415: ResponseSpec(ErrorResponse, description="Unsupported Content-Encoding"),
}


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
class InferOperation(V2Operation):
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
        super().__post_init__()
