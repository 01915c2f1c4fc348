"""Every error is an RFC 9457 problem details document (``application/problem+json``).

The handlers here are registered on the app, so they cover the framework's own errors too (404 for an
unknown path, 405, 413 for a large body, request validation) and any unexpected exception (500 with a
generic detail; the traceback goes to the log, never to the client). Litestar picks the most specific
handler by exception class and router-level handlers override app-level ones, which is how ``/v2`` can
answer in the KServe ``{"error": ...}`` shape instead.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import pydantic
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

log = logging.getLogger("service.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(pydantic.BaseModel):
    """One invalid field of a request."""

    field: str = pydantic.Field(description="where: e.g. 'body.pixels.3' or 'query.include'")
    message: str


class Problem(pydantic.BaseModel):
    """RFC 9457 problem details: the one shape of every error this service answers."""

    type: str = pydantic.Field("about:blank", description="problem type URI; about:blank = see title/status")
    title: str = pydantic.Field(description="the HTTP status phrase, e.g. 'Unprocessable Content'")
    status: int = pydantic.Field(description="the HTTP status code, repeated")
    detail: str = pydantic.Field(description="what is wrong with this request, for a person to read")
    instance: str | None = pydantic.Field(None, description="the request path")
    errors: list[FieldError] | None = pydantic.Field(
        None, description="invalid fields, for validation errors"
    )


class ApiError(Exception):
    """Raised by route code to answer a problem: ``raise ApiError(415, "...")``."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


def problem_body(
    status_code: int, detail: str, *, instance: str | None = None, errors: list[FieldError] | None = None
) -> dict[str, Any]:
    """The problem details document: the one builder, used by handlers, the API-key check and the
    HTTP protocol's 431 alike."""
    return Problem(
        title=_phrase(status_code), status=status_code, detail=detail, instance=instance, errors=errors
    ).model_dump(exclude_none=True)


def problem_response(
    request: Request[Any, Any, Any],
    status_code: int,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body = problem_body(status_code, detail, instance=request.url.path, errors=errors)
    return Response(body, status_code=status_code, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


# RFC 9110 renamed these two; Python's HTTPStatus (3.11) still has the RFC 7231 phrases.
PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}


def _phrase(status_code: int) -> str:
    if status_code in PHRASES:
        return PHRASES[status_code]
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _generic(detail: str, status_code: int) -> bool:
    """Litestar's default details just repeat the status phrase; those get a more useful text."""
    generic = {_phrase(status_code).lower(), "request entity too large", "unprocessable entity"}
    return not detail or detail.lower() in generic


def _field_errors(extra: Any) -> list[FieldError]:
    """Litestar puts validation failures in ``extra`` as [{"key", "message", "source"}]."""
    if not isinstance(extra, list):
        return []
    errors = []
    for item in extra:
        if isinstance(item, dict):
            source = getattr(item.get("source"), "value", item.get("source"))  # ParamType enum -> "query"
            where = ".".join(str(part) for part in (source, item.get("key")) if part)
            message = str(item.get("message", "")).removeprefix("Value error, ")
            errors.append(FieldError(field=where or "request", message=message))
    return errors


def _joined(errors: list[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors[:5]) + (
        f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    )


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Framework and route HTTP errors -> problem details, with a detail that says what to do."""
    status_code, detail, headers = exc.status_code, str(exc.detail or ""), dict(exc.headers or {})
    errors = None
    if isinstance(exc, ValidationException):
        # Litestar answers 400 for invalid request data; this API answers 422 (well-formed HTTP, bad content).
        status_code = HTTPStatus.UNPROCESSABLE_ENTITY
        errors = _field_errors(exc.extra) or None
        detail = _joined(errors) if errors else detail
    elif status_code == 400 and detail == "Request Entity Too Large":  # multipart part limit
        status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        detail = "too many multipart form parts in the request"
    elif status_code == 400:  # the framework's other 400s are unreadable request content, e.g. bad multipart
        status_code = HTTPStatus.UNPROCESSABLE_ENTITY
        detail = detail if not _generic(detail, 400) else "the request could not be read"
    elif _generic(detail, status_code):
        detail = _default_detail(request, status_code, headers)
    return problem_response(request, status_code, detail, errors=errors, headers=headers or None)


def _default_detail(request: Request[Any, Any, Any], status_code: int, headers: dict[str, str]) -> str:
    method, path = request.method, request.url.path
    if status_code == HTTPStatus.NOT_FOUND:
        return f"there is nothing at {path}; the API is described at /schema"
    if status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        return f"{method} is not allowed on {path}; allowed: {headers.get('allow', 'see /schema')}"
    if status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        limit = request.route_handler.resolve_request_max_body_size()
        setting = request.route_handler.opt.get("body_limit_setting", "DIGITS_MAX_BODY_BYTES")
        return f"the request body is larger than the limit of {limit} bytes ({setting})"
    return _phrase(status_code)


def api_error_handler(request: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    return problem_response(request, exc.status_code, exc.detail, headers=exc.headers)


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Image and line-fit errors: their message is the detail; 422 unless they carry a status_code."""
    status_code = int(getattr(exc, "status_code", HTTPStatus.UNPROCESSABLE_ENTITY))
    return problem_response(request, status_code, str(exc) or _phrase(status_code))


def pydantic_error_handler(
    request: Request[Any, Any, Any], exc: pydantic.ValidationError
) -> Response[dict[str, Any]]:
    """Bodies validated in route code (e.g. JSON on /predict) fail like the framework's own validation."""
    errors = pydantic_field_errors(exc)
    return problem_response(request, HTTPStatus.UNPROCESSABLE_ENTITY, _joined(errors), errors=errors)


def pydantic_field_errors(exc: pydantic.ValidationError, source: str = "body") -> list[FieldError]:
    errors = []
    for item in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in (source, *item["loc"]))
        errors.append(FieldError(field=where, message=item["msg"].removeprefix("Value error, ")))
    return errors


INTERNAL_ERROR_DETAIL = "the server failed to answer this request; the error is logged"


def log_internal_error(request: Request[Any, Any, Any], exc: Exception) -> str:
    """A bug: log the traceback and return the only thing the client is told (for / and /v2 alike)."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return INTERNAL_ERROR_DETAIL


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A bug: the client gets a generic 500 problem, the log the traceback."""
    return problem_response(request, HTTPStatus.INTERNAL_SERVER_ERROR, log_internal_error(request, exc))
