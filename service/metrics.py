"""The service's Prometheus metrics, in one place and free of Litestar (the model and reload count here).

With several uvicorn workers, ``python -m service`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers
start, and :func:`metrics_text` then aggregates all workers (prometheus_client multiprocess mode).
Served at ``/metrics`` by ``service.routes.metrics``; HTTP requests are counted by ``service.telemetry``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

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
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

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
# The sample store (DIGITS_STORE_URL): this process's writes; the feedback figures come from the database.
STORE_SAMPLES = Counter(
    "digits_store_samples_total",
    "Predictions handed to the sample store, by outcome: written, or dropped (queue_full, database_error)",
    ["outcome"],
)
STORE_RETENTION_DELETED = Counter(
    "digits_store_retention_deleted_total", "Rows deleted by the store's row and age limits"
)
FEEDBACK_REQUESTS = Counter(
    "digits_feedback_requests_total", "POST /feedback answered, by outcome", ["outcome"]
)

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


def collect() -> list[Metric]:
    """The metric families as /metrics would show them (all workers' in multiprocess mode)."""
    return list(_registry().collect())


class FeedbackCollector(Collector):
    """Feedback figures per model version, read from the sample store's database (so every worker and
    replica reports the same numbers): ``snapshot()`` returns the store writer's latest cached query."""

    def __init__(self, snapshot: Callable[[], Sequence[Any] | None]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        versions = self.snapshot()
        if versions is None:  # not read from the database yet (or it is down): say nothing, not zero
            return
        labels = ["model", "version"]
        stored = GaugeMetricFamily("digits_store_rows", "Predictions kept in the sample store", labels=labels)
        feedback = GaugeMetricFamily(
            "digits_feedback_samples",
            "Stored predictions with feedback, by kind: labelled (a digit given), correct (the label "
            "agreed with the prediction), not_a_digit",
            labels=[*labels, "kind"],
        )
        accuracy = GaugeMetricFamily(
            "digits_feedback_accuracy",
            "Accuracy on the samples users labelled (correct / labelled)",
            labels=labels,
        )
        for v in versions:
            key = [v.model_name, v.model_version]
            stored.add_metric(key, v.stored)
            for kind in ("labelled", "correct", "not_a_digit"):
                feedback.add_metric([*key, kind], getattr(v, kind))
            if v.labelled:
                accuracy.add_metric(key, v.correct / v.labelled)
        yield from (stored, feedback, accuracy)


def metrics_text(extra: Iterable[Collector] = ()) -> bytes:
    """The exposition text: this process's metrics, or all workers' in multiprocess mode, then the
    ``extra`` collectors (the feedback figures, which come from the database, not from a process)."""
    text = generate_latest(_registry())
    extra = list(extra)
    if extra:
        registry = CollectorRegistry(auto_describe=False)
        for collector in extra:
            registry.register(collector)
        text += generate_latest(registry)
    return text
