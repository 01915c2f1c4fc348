"""``GET /metrics``: the Prometheus exposition of ``service.metrics`` (all workers' in multiprocess mode)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State

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
def metrics(state: State) -> Response[bytes]:
    """Requests and latency by route template and status, predictions by label, model-call time and batch size
    (Prometheus text exposition format); with the sample store on, its writes and the feedback figures
    per model version (from the database, refreshed every few seconds)."""
    return Response(metrics_text(state.get("metrics_collectors", ())), media_type=METRICS_MEDIA_TYPE)
