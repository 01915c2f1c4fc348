"""uvicorn's httptools protocol with two fixes: a request at shutdown, and unbounded request headers.

1. When uvicorn shuts a worker down (SIGTERM, or the supervisor's rolling restart on SIGHUP) it stops
   accepting, lets requests in flight finish, and closes every connection that has no request in
   progress. A connection accepted an instant before - its request bytes not yet read - counts as idle
   and is closed unanswered, so the client sees "server disconnected" for a request it had already
   sent (about one rolling restart in four under load in tests/hardening). Here such a connection's
   first request is answered (then the connection closes), or it is closed if nothing arrives within
   GRACE_SECONDS; every other connection is shut down exactly as uvicorn does.
2. httptools puts no limit on the size of request headers (a 50 MB header line was read and answered):
   a client could make the server buffer any amount. Headers are limited to MAX_HEADER_BYTES; above it
   the answer is 431 problem+json and the connection closes.

``python -m service`` selects this protocol with uvicorn's ``http`` option. ``HttpToolsProtocol`` is
uvicorn's private class, so pyproject.toml pins uvicorn to the minor version this was written against
(0.54); check these hooks (``on_message_begin``, ``on_headers_complete``, ``data_received``,
``shutdown``, ``cycle``) before raising that pin.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.errors import problem_body

GRACE_SECONDS = 2.0
MAX_HEADER_BYTES = 64 * 1024  # request line + headers; nginx's default large buffers are 4 x 8 KiB

_TOO_LARGE = json.dumps(
    problem_body(431, f"the request line and headers are larger than {MAX_HEADER_BYTES} bytes")
).encode()


class GracefulHttpProtocol(HttpToolsProtocol):
    _served_a_request = False
    _draining = False
    _reading_headers = False  # between a request's first byte and the end of its headers
    _header_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers, self._header_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        super().on_headers_complete()
        self._served_a_request = True
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answer this one request, then close

    def data_received(self, data: bytes) -> None:
        # Bytes that arrive while a request's headers are incomplete are header bytes. A read that
        # completes them is not checked (its tail may be body): a request whose headers arrive in one
        # read (asyncio reads up to 256 KiB) is parsed whole, as before; a longer stream is cut off.
        was_reading = self._reading_headers
        if was_reading:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._reading_headers and not was_reading:  # a request began in this read, headers unfinished
            self._header_bytes += len(data)
        too_large = self._reading_headers and self._header_bytes > MAX_HEADER_BYTES
        if too_large and not self.transport.is_closing():
            self._reading_headers = False
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: application/problem+json\r\n"
                b"content-length: " + str(len(_TOO_LARGE)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + _TOO_LARGE
            )
            self.transport.close()

    def shutdown(self) -> None:
        if self.cycle is None and not self._served_a_request and not self.transport.is_closing():
            self._draining = True  # accepted just before the listener closed: its request is on the way
            self.loop.call_later(GRACE_SECONDS, self._close_if_idle)
            return
        super().shutdown()

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
