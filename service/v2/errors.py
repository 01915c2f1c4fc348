"""The one error of the V2 protocol: every transport answers it in its own shape.

REST answers ``status_code`` with ``{"error": message}`` (``service.v2.routes``); a gRPC transport maps
the status code to its own (400 -> INVALID_ARGUMENT, 404 -> NOT_FOUND, ...).
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """A request the protocol cannot accept: ``message`` for the client, ``status_code`` as HTTP would say."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code
