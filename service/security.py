"""Who may call the service and what every response tells the browser: API key, headers, CORS, rate limit.

All of it is configured by ``DIGITS_*`` settings and off by default except the security headers:

- ``DIGITS_API_KEY``: when set, every request needs the key as ``X-API-Key: <key>`` or
  ``Authorization: Bearer <key>`` (several keys, comma-separated, for rotation), compared in constant
  time. Health (``/healthz``, ``/readyz``, ``/v2/health/*``) and ``/metrics`` stay open for probes and
  scrapers; so do CORS preflights (browsers never send credentials on them). A missing or wrong key is a
  401 problem+json (``{"error": ...}`` on ``/v2``, the protocol's shape) with ``WWW-Authenticate``.
- ``DIGITS_CORS_ORIGINS``: comma-separated origins allowed to call the API from a browser (``*``: any).
- ``DIGITS_RATE_LIMIT`` requests per ``DIGITS_RATE_LIMIT_UNIT`` per client address (Litestar's
  ``RateLimitConfig``, in memory, so per worker process); health and metrics are not limited.
- Security headers on every response (``nosniff``, no framing, no referrer, a restrictive CSP); a
  response that brings its own (the web page's CSP) keeps it.

:class:`SecurityLayer` wraps the app's ASGI handler (outside routing, so it also answers for unknown
paths and never runs a handler for an unauthenticated request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from litestar.config.cors import CORSConfig
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme

from service.errors import PROBLEM_MEDIA_TYPE, problem_body

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from service.settings import Settings

# Open without a key: probes and scrapers (Kubernetes, Prometheus) carry no credentials.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"})
V2_PREFIX = "/v2"
CHALLENGE = 'Bearer realm="digits"'  # RFC 6750 challenge; X-API-Key works the same way

# Set on every response unless the response already has the header.
SECURITY_HEADERS: dict[str, str] = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
# JSON, images and text need no script, style or frame: the strictest policy.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# HTML without its own policy is the OpenAPI viewer (/schema), which loads its renderer from a CDN:
# forbid framing, plugins and <base> tricks, leave its scripts alone. The web page at / sets its own.
HTML_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"

# Headers a browser may send cross-origin, and response headers its scripts may read.
CORS_ALLOW_HEADERS = [
    "content-type",
    "x-api-key",
    "authorization",
    "content-encoding",
    "inference-header-content-length",
]
CORS_EXPOSE_HEADERS = [
    "inference-header-content-length",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "www-authenticate",
]
CORS_MAX_AGE = 600  # seconds a browser may cache a preflight answer


def api_keys(settings: Settings) -> list[bytes]:
    """The accepted keys (empty: no key needed)."""
    return [key.strip().encode() for key in settings.api_key.split(",") if key.strip()]


def cors_origins(settings: Settings) -> list[str]:
    return [origin.strip().rstrip("/") for origin in settings.cors_origins.split(",") if origin.strip()]


def cors_config(settings: Settings) -> CORSConfig | None:
    """Litestar's CORS for ``DIGITS_CORS_ORIGINS``; None (no CORS headers at all) when unset."""
    origins = cors_origins(settings)
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        allow_credentials=False,  # the key travels in a header, never in cookies
        max_age=CORS_MAX_AGE,
    )


class RateLimit(RateLimitMiddleware):
    """Litestar's rate limit, with a 429 that says what the limit is and when to retry (Retry-After)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as exc:
            headers = dict(exc.headers or {})
            reset = headers.get(self.config.rate_limit_reset_header_key)
            if reset is not None:
                headers["Retry-After"] = reset
            raise TooManyRequestsException(
                detail=f"rate limit: at most {self.max_requests} requests per {self.unit} from one client; "
                f"retry in {reset or 'a while'} s",
                headers=headers,
            ) from None


def rate_limit_config(settings: Settings) -> RateLimitConfig | None:
    """Litestar's rate limit for ``DIGITS_RATE_LIMIT`` per ``DIGITS_RATE_LIMIT_UNIT``; None when 0."""
    if settings.rate_limit <= 0:
        return None
    public = [f"^{path}$" for path in sorted(PUBLIC_PATHS)]
    return RateLimitConfig(
        rate_limit=(settings.rate_limit_unit, settings.rate_limit), exclude=public, middleware_class=RateLimit
    )


def middleware(settings: Settings) -> list[Any]:
    """Route-level middleware for the app (the rate limit, when on)."""
    config = rate_limit_config(settings)
    return [config.middleware] if config else []


def requirements(settings: Settings) -> list[SecurityRequirement] | None:
    """With a key configured: either scheme will do (None: the API is open)."""
    return [{"apiKey": []}, {"bearer": []}] if api_keys(settings) else None


def openapi_components(settings: Settings) -> Components:
    """The document's security schemes, for ``OpenAPIConfig(components=...)``, when a key is configured.

    The per-operation part (a 401 on guarded operations, ``security: []`` on public ones) is written by
    the operation classes in ``service.openapi`` from the requirement ``create_app`` layers on the app.
    """
    if not api_keys(settings):
        return Components()
    return Components(
        security_schemes={
            "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
            "bearer": SecurityScheme(
                type="http", scheme="bearer", description="the API key as a bearer token"
            ),
        }
    )


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS


def presented_key(scope: Scope) -> bytes | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer``, if the request carries one."""
    bearer = None
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                bearer = token.strip()
    return bearer


def key_matches(presented: bytes, keys: list[bytes]) -> bool:
    """Constant-time comparison against every accepted key (no early exit that would leak which one).

    Both sides are hashed first, so the comparison runs over equal lengths and the time does not even
    depend on the key's length.
    """
    digest = hashlib.sha256(presented).digest()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(digest, hashlib.sha256(key).digest())
    return matched


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _is_preflight(scope: Scope) -> bool:
    return (
        scope["method"] == "OPTIONS"
        and _header(scope, b"origin") is not None
        and _header(scope, b"access-control-request-method") is not None
    )


class SecurityLayer:
    """ASGI wrapper: the API-key check before routing, security headers on every response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.keys = api_keys(settings)
        self.cors = cors_config(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_security_headers(list(message.get("headers") or []))
            await send(message)

        if self.keys and not is_public(scope["path"]) and not _is_preflight(scope):
            presented = presented_key(scope)
            if presented is None or not key_matches(presented, self.keys):
                await self._unauthorized(scope, send_with_headers, missing=presented is None)
                return
        await self.app(scope, receive, send_with_headers)

    async def _unauthorized(self, scope: Scope, send: Send, *, missing: bool) -> None:
        path: str = scope["path"]
        if missing:
            detail = "this service needs an API key: send 'X-API-Key: <key>' or 'Authorization: Bearer <key>'"
        else:
            detail = "the API key is not valid"
        if path == V2_PREFIX or path.startswith(V2_PREFIX + "/"):
            body, media_type = {"error": detail}, "application/json"
        else:
            body, media_type = problem_body(401, detail, instance=path), PROBLEM_MEDIA_TYPE
        content = json.dumps(body).encode()
        headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(content)).encode()),
            (b"www-authenticate", CHALLENGE.encode()),
        ]
        headers += self._cors_headers(scope)
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _cors_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """A 401 is answered before Litestar's CORS layer: let an allowed page's script read it."""
        origin = _header(scope, b"origin")
        if self.cors is None or origin is None:
            return []
        text = origin.decode("latin-1")
        if self.cors.is_allow_all_origins:
            allowed = b"*"
        elif self.cors.is_origin_allowed(text):
            allowed = origin
        else:
            return []
        exposed = ", ".join(CORS_EXPOSE_HEADERS).encode()
        return [
            (b"access-control-allow-origin", allowed),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", exposed),
        ]


def _with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {bytes(name).lower() for name, _ in headers}
    for name, value in SECURITY_HEADERS.items():
        if name.encode() not in present:
            headers.append((name.encode(), value.encode()))
    if b"content-security-policy" not in present:
        content_type = next((bytes(v) for n, v in headers if bytes(n).lower() == b"content-type"), b"")
        csp = HTML_CSP if content_type.lower().startswith(b"text/html") else API_CSP
        headers.append((b"content-security-policy", csp.encode()))
    return headers
