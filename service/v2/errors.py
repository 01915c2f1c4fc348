"""The one error of the V2 protocol: every transport answers it in its own shape.

REST answers ``status_code`` with ``{"error": message}`` (``service.v2.routes``); gRPC maps the status
code to its own (``service.v2.grpc``: 400 -> INVALID_ARGUMENT, 404 -> NOT_FOUND, ...). A request over one
of the server's limits (batch size, message size) is ``over_limit``: REST keeps its status code, gRPC
answers RESOURCE_EXHAUSTED, as the protocol's clients expect.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """A request the protocol cannot accept: ``message`` for the client, ``status_code`` as HTTP would say."""

    def __init__(self, message: str, status_code: int = 400, *, over_limit: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.over_limit = over_limit or status_code == 413
