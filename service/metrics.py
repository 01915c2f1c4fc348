"""The service's Prometheus metrics, in one place and free of Litestar (the model and reload count here).

With several uvicorn workers, ``python -m service`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers
start, and :func:`metrics_text` then aggregates all workers (prometheus_client multiprocess mode).
Served at ``/metrics`` by ``service.routes.metrics``; HTTP requests are counted by ``service.telemetry``.
"""

from __future__ import annotations

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.metrics_core import Metric

disable_created_metrics()  # no *_created series: they double the output and nobody graphs them

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
RELOADS = Counter("digits_model_reloads_total", "Model reload attempts by outcome", ["outcome"])

# The V2 statistics extension (service.v2.statistics) is read back from these, so it covers every worker
# and always agrees with /metrics. Phases as Triton names them: success, fail, queue, compute_input,
# compute_infer, compute_output (a Summary: count and total seconds).
V2_INFERENCES_METRIC = "digits_v2_inferences"  # family names, as collect() reports them
V2_EXECUTIONS_METRIC = "digits_v2_executions"
V2_PHASE_METRIC = "digits_v2_request_phase_seconds"
V2_LAST_INFERENCE_METRIC = "digits_v2_last_inference_timestamp_seconds"
V2_INFERENCES = Counter(
    V2_INFERENCES_METRIC, "Images inferred by successful V2 requests", ["model", "version"]
)
V2_EXECUTIONS = Counter(
    V2_EXECUTIONS_METRIC, "Model executions of successful V2 requests", ["model", "version"]
)
V2_DURATION = Summary(
    V2_PHASE_METRIC,
    "V2 inference requests by phase (Triton's statistics): count and total time",
    ["model", "version", "phase"],
)
V2_LAST_INFERENCE = Gauge(
    V2_LAST_INFERENCE_METRIC,
    "When the last successful V2 inference ended (Unix time)",
    ["model", "version"],
    multiprocess_mode="max",
)
GRPC_REQUESTS = Counter("digits_grpc_requests_total", "gRPC calls answered", ["method", "code"])
GRPC_LATENCY = Histogram(
    "digits_grpc_request_duration_seconds",
    "Time from a gRPC call's start to its answer",
    ["method"],
    buckets=LATENCY_BUCKETS,
)


def record_predictions(labels: list[int], seconds: float) -> None:
    """Count one model call: its duration, its batch size and each predicted label."""
    INFERENCE.observe(seconds)
    BATCH_SIZE.observe(len(labels))
    for label in labels:
        PREDICTIONS.labels(str(label)).inc()


def _registry() -> CollectorRegistry:
    """This process's registry, or one that aggregates all workers' files in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_text() -> bytes:
    """The exposition text: this process's metrics, or all workers' in multiprocess mode."""
    return generate_latest(_registry())


def collect() -> list[Metric]:
    """The metric families as /metrics would show them (all workers' in multiprocess mode)."""
    return list(_registry().collect())
