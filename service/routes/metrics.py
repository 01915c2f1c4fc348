"""``GET /metrics``: the Prometheus exposition of ``service.metrics`` (all workers' in multiprocess mode)."""

from __future__ import annotations

from litestar import Response, get

from service.metrics import METRICS_MEDIA_TYPE, metrics_text
from service.openapi import PublicOperation


@get(
    "/metrics",
    sync_to_thread=False,
    operation_class=PublicOperation,
    tags=["operations"],
    summary="Prometheus metrics",
    media_type=METRICS_MEDIA_TYPE,
)
def metrics() -> Response[bytes]:
    """Requests and latency by route template and status, predictions by label, model-call time and batch size
    (Prometheus text exposition format), summed over all worker processes. Always open (no API key
    needed); never rate limited."""
    return Response(metrics_text(), media_type=METRICS_MEDIA_TYPE)
