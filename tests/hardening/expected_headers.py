"""The security headers the hardening tests expect, written out here rather than imported from
service.security, so a weakened policy fails a test instead of passing with it."""

from __future__ import annotations

# Every API answer (JSON, images, text, metrics): nothing may load, frame, or submit anywhere.
API_POLICY = {
    "default-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'none'",
}
# The web page at /: only its own scripts, styles, images and API; no plugins, no framing.
PAGE_POLICY = {
    "default-src": "'self'",
    "img-src": "'self' data: blob:",
    "style-src": "'self'",
    "script-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# The OpenAPI viewer (/schema) loads its renderer from a CDN: no framing, plugins or <base> tricks.
DOCS_POLICY = {"frame-ancestors": "'none'", "object-src": "'none'", "base-uri": "'none'"}
CHALLENGE = 'Bearer realm="digits"'


def directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy header as {directive: sources}; a directive given twice fails."""
    parsed: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in policy.split(";"))):
        name, _, sources = part.partition(" ")
        assert name.lower() not in parsed, f"{name} twice in {policy!r}"
        parsed[name.lower()] = " ".join(sources.split())
    return parsed
