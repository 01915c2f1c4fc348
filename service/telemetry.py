"""Per-request telemetry: one JSON access-log line and Prometheus metrics for every HTTP request.

:class:`RequestTelemetry` wraps the app's ``asgi_handler`` (the exception-handling layer around Litestar's
router, the same slot Litestar uses for CORS), so it sees every request, including 404/405 answered by the
router itself, which route-level middleware never sees. Metrics are labelled by route *template*
(``/predict``, ``/v2/models/{model_name:str}``) so label cardinality stays bounded; unmatched paths share
the label ``<unmatched>``.

With several uvicorn workers, ``python -m service`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers
start, and ``/metrics`` then aggregates all workers (prometheus_client multiprocess mode).
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from litestar import Response, get
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("service.access")
disable_created_metrics()  # no *_created series: they double the output and nobody graphs them

UNMATCHED = "<unmatched>"
METRICS_MEDIA_TYPE = "text/plain; version=0.0.4"  # Prometheus text format; Litestar adds the charset
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("digits_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "digits_http_request_duration_seconds",
    "Time from request start to the last response byte",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
PREDICTIONS = Counter("digits_predictions_total", "Digits predicted, by predicted label", ["label"])
INFERENCE = Histogram(
    "digits_inference_seconds", "Time in one model call (a whole batch)", buckets=LATENCY_BUCKETS
)
BATCH_SIZE = Histogram(
    "digits_inference_batch_size", "Images per model call", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
)


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

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
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
                access_log.info(
                    "request",
                    extra={
                        "fields": {
                            "method": method,
                            "path": scope["path"],
                            "route": route,
                            "status": status,
                            "latency_ms": round(elapsed * 1000, 3),
                            "client": client[0] if client else None,
                        }
                    },
                )


def record_predictions(labels: list[int], seconds: float) -> None:
    """Count one model call: its duration, its batch size and each predicted label."""
    INFERENCE.observe(seconds)
    BATCH_SIZE.observe(len(labels))
    for label in labels:
        PREDICTIONS.labels(str(label)).inc()


def metrics_text() -> bytes:
    """The exposition text: this process's metrics, or all workers' in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


@get(
    "/metrics",
    sync_to_thread=False,
    tags=["operations"],
    summary="Prometheus metrics",
    media_type=METRICS_MEDIA_TYPE,
)
def metrics() -> Response[bytes]:
    """Requests and latency by route template and status, predictions by label, model-call time and batch size
    (Prometheus text exposition format)."""
    return Response(metrics_text(), media_type=METRICS_MEDIA_TYPE)
