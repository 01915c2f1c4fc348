"""Per-request telemetry: one JSON access-log line and Prometheus metrics for every HTTP request.

:class:`RequestTelemetry` wraps the app's ``asgi_handler`` (the exception-handling layer around Litestar's
router, the same slot Litestar uses for CORS), so it sees every request, including 404/405 answered by the
router itself, which route-level middleware never sees. Metrics (``service.metrics``) are labelled by route
*template* (``/predict``, ``/v2/models/{model_name:str}``) so label cardinality stays bounded; unmatched
paths share the label ``<unmatched>``. The log line also carries the answer's prediction id(s) (the
``X-Prediction-Id`` response header, ``service.predictions``) and an incoming W3C ``traceparent``, so a
prediction, its feedback and a trace can be joined.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from service.metrics import LATENCY, REQUESTS

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("service.access")

UNMATCHED = "<unmatched>"
PREDICTION_ID_HEADER = b"x-prediction-id"  # service.predictions.PREDICTION_ID_HEADER, as ASGI spells it
TRACEPARENT_HEADER = b"traceparent"
MAX_TRACEPARENT = 128  # a valid one is 55 characters; never copy an arbitrarily long header into the log


class RequestTelemetry:
    """ASGI wrapper: times each HTTP request, then logs it and counts it by route template."""

    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if nothing is ever sent, the client saw a failure
        prediction_id: bytes | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, prediction_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == PREDICTION_ID_HEADER:
                        prediction_id = value
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("path_template") if scope.get("route_handler") is not None else None
            route = route or UNMATCHED
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if self.log_requests:
                client = scope.get("client")
                fields = {
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 3),
                    "client": client[0] if client else None,
                }
                if prediction_id is not None:
                    fields["prediction_id"] = prediction_id.decode("latin-1")
                for name, value in scope["headers"]:
                    if name == TRACEPARENT_HEADER:
                        fields["traceparent"] = value[:MAX_TRACEPARENT].decode("latin-1")
                access_log.info("request", extra={"fields": fields})
