"""uvicorn's httptools protocol without one race at shutdown: a request on a just-accepted connection.

When uvicorn shuts a worker down (SIGTERM, or the supervisor's rolling restart on SIGHUP) it stops
accepting, lets requests in flight finish, and closes every connection that has no request in progress.
A connection the worker accepted an instant before - its request bytes not yet read - counts as idle and
is closed unanswered, so the client sees "server disconnected" for a request it had already sent. Under
load this happened in about one rolling restart out of four in tests/hardening.

This protocol serves such a connection's first request (then closes it), and closes it if nothing arrives
within GRACE_SECONDS; every other connection is shut down exactly as uvicorn does. ``python -m service``
selects it with uvicorn's ``http`` option.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

GRACE_SECONDS = 2.0


class GracefulHttpProtocol(HttpToolsProtocol):
    _served_a_request = False
    _draining = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._served_a_request = True
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answer this one request, then close

    def shutdown(self) -> None:
        if self.cycle is None and not self._served_a_request and not self.transport.is_closing():
            self._draining = True  # accepted just before the listener closed: its request is on the way
            self.loop.call_later(GRACE_SECONDS, self._close_if_idle)
            return
        super().shutdown()

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
