"""OpenAPI helpers so /schema/openapi.json tells the truth about bodies and errors.

Litestar documents request-validation failures as 400 on every handler with parameters; this service answers
them 422 problem+json (see ``service.errors``), so :class:`ApiOperation` drops that 400 and handlers list
their real error statuses with :func:`problem_responses`. Bodies that one handler reads in several media
types (JSON, multipart, raw image) are documented with :func:`operation_with_body`, using the pydantic
JSON schema of the very model that validates them.

With an API key configured, ``create_app`` gives every handler the key requirement (Litestar's layered
``security``) and the document its schemes (``OpenAPIConfig``, see ``service.security``). Each operation
class then writes it the way this document always has: guarded operations get a 401 response (the
requirement itself is stated once, at the top), public ones (health, metrics: :class:`PublicOperation`)
say ``security: []``. Every documented handler therefore uses one of these classes (V2: those in
``service.v2.openapi``).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from pydantic import BaseModel

from service.errors import PROBLEM_MEDIA_TYPE, Problem


def unauthorized_response(media_type: str, schema_name: str) -> OpenAPIResponse:
    """The documented 401 of a guarded operation, in the error shape of its routes."""
    return OpenAPIResponse(
        description="no API key, or a wrong one (X-API-Key or Authorization: Bearer)",
        headers={"WWW-Authenticate": OpenAPIHeader(schema=Schema(type="string"), required=True)},
        content={media_type: OpenAPIMediaType(schema=Reference(f"#/components/schemas/{schema_name}"))},
    )


@dataclass
class GuardedOperation(Operation):
    """An operation that needs the API key when one is configured: it documents the 401."""

    public: ClassVar[bool] = False
    error_media_type: ClassVar[str] = PROBLEM_MEDIA_TYPE
    error_schema: ClassVar[str] = Problem.__name__

    def __post_init__(self) -> None:
        if not self.security:  # no API key configured: nothing to say
            return
        if self.public:
            self.security = []  # open to probes and scrapers without the key
            return
        self.security = None  # the document's top-level requirement covers it
        self.responses = self.responses or {}
        self.responses["401"] = unauthorized_response(self.error_media_type, self.error_schema)


@dataclass
class PublicOperation(GuardedOperation):
    """Health and metrics: open without a key (``service.security.PUBLIC_PATHS``)."""

    public: ClassVar[bool] = True


@dataclass
class ApiOperation(GuardedOperation):
    """An Operation without Litestar's automatic '400 validation' response (we answer 422 instead)."""

    def __post_init__(self) -> None:
        if self.responses:
            self.responses.pop("400", None)
        super().__post_init__()


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
