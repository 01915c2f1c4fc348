"""OpenAPI helpers so /schema/openapi.json tells the truth about bodies and errors.

Litestar documents request-validation failures as 400 on every handler with parameters; this service answers
them 422 problem+json (see ``service.errors``), so :class:`ApiOperation` drops that 400 and handlers list
their real error statuses with :func:`problem_responses`. Bodies that one handler reads in several media
types (JSON, multipart, raw image) are documented with :func:`operation_with_body`, using the pydantic
JSON schema of the very model that validates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation, RequestBody
from pydantic import BaseModel

from service.errors import PROBLEM_MEDIA_TYPE, Problem


@dataclass
class ApiOperation(Operation):
    """An Operation without Litestar's automatic '400 validation' response (we answer 422 instead)."""

    def __post_init__(self) -> None:
        if self.responses:
            self.responses.pop("400", None)


def problem_responses(*statuses: int, **descriptions: str) -> dict[int, ResponseSpec]:
    """``{status: problem+json response}`` for the OpenAPI document; descriptions by ``_413="..."``."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=descriptions.get(f"_{status}", HTTPStatus(status).phrase),
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A pydantic model's JSON schema, inlined (these request models have no shared sub-models)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def operation_with_body(request_body: RequestBody) -> type[Operation]:
    """An operation class documenting ``request_body`` (for handlers that read the body themselves)."""

    @dataclass
    class BodyOperation(ApiOperation):
        def __post_init__(self) -> None:
            super().__post_init__()
            self.request_body = request_body

    return BodyOperation
