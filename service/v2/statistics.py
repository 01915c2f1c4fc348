"""The statistics extension: Triton's per-model inference statistics, read back from the shared metrics.

Each V2 inference (REST or gRPC) is timed by an :class:`InferenceTimer` in Triton's phases and recorded in
Prometheus objects (``service.metrics``). :func:`model_statistics` reads those back the way ``/metrics``
does, so with several workers the figures are summed over every worker process (prometheus_client's
multiprocess files) and always agree with ``/metrics``. Transport-neutral: plain dicts in Triton's JSON
shape (``docs/protocol/extension_statistics.md``), which the gRPC transport parses into its message.
"""

from __future__ import annotations

import time
from typing import Any

from service.metrics import (
    V2_DURATION,
    V2_EXECUTIONS,
    V2_EXECUTIONS_METRIC,
    V2_INFERENCES,
    V2_INFERENCES_METRIC,
    V2_LAST_INFERENCE,
    V2_LAST_INFERENCE_METRIC,
    V2_PHASE_METRIC,
    collect,
)
from service.model import DigitModel

TIMED_PHASES = ("queue", "compute_input", "compute_infer", "compute_output")
# Triton's $inference_stats keys; this server has no response cache, so cache_hit/cache_miss stay 0.
INFERENCE_STATS = ("success", "fail", *TIMED_PHASES, "cache_hit", "cache_miss")
NS_PER_SECOND = 1_000_000_000


class InferenceTimer:
    """Times one V2 inference request: call :meth:`lap` at the end of each phase, then record it."""

    def __init__(self) -> None:
        self.started = time.perf_counter_ns()
        self._mark = self.started
        self.phases: dict[str, int] = {}

    def lap(self, phase: str) -> None:
        """The time since the previous lap (or the start) was spent in ``phase``."""
        now = time.perf_counter_ns()
        self.phases[phase] = self.phases.get(phase, 0) + now - self._mark
        self._mark = now

    def succeeded(self, model: DigitModel, batch: int) -> None:
        labels = (model.name, model.version)
        V2_DURATION.labels(*labels, "success").observe(self._elapsed())
        for phase in TIMED_PHASES:
            V2_DURATION.labels(*labels, phase).observe(self.phases.get(phase, 0) / NS_PER_SECOND)
        V2_INFERENCES.labels(*labels).inc(batch)
        V2_EXECUTIONS.labels(*labels).inc()
        V2_LAST_INFERENCE.labels(*labels).set(time.time())

    def failed(self, model: DigitModel) -> None:
        V2_DURATION.labels(model.name, model.version, "fail").observe(self._elapsed())

    def _elapsed(self) -> float:
        return (time.perf_counter_ns() - self.started) / NS_PER_SECOND


def _samples(model: DigitModel) -> dict[tuple[str, str], float]:
    """(sample name, phase) -> value for this model and version, from every worker."""
    wanted = {V2_PHASE_METRIC, V2_INFERENCES_METRIC, V2_EXECUTIONS_METRIC, V2_LAST_INFERENCE_METRIC}
    found: dict[tuple[str, str], float] = {}
    for family in collect():
        if family.name not in wanted:
            continue
        for sample in family.samples:
            if sample.labels.get("model") == model.name and sample.labels.get("version") == model.version:
                key = (sample.name, sample.labels.get("phase", ""))
                found[key] = found.get(key, 0.0) + sample.value
    return found


def model_statistics(model: DigitModel) -> dict[str, Any]:
    """Triton's ``$model_stat`` of the served model and version since the server started."""
    samples = _samples(model)

    def duration(phase: str) -> dict[str, int]:
        count = samples.get((f"{V2_PHASE_METRIC}_count", phase), 0.0)
        total = samples.get((f"{V2_PHASE_METRIC}_sum", phase), 0.0)
        return {"count": int(count), "ns": round(total * NS_PER_SECOND)}

    return {
        "name": model.name,
        "version": model.version,
        "last_inference": round(samples.get((V2_LAST_INFERENCE_METRIC, ""), 0.0) * 1000),
        "inference_count": int(samples.get((f"{V2_INFERENCES_METRIC}_total", ""), 0.0)),
        "execution_count": int(samples.get((f"{V2_EXECUTIONS_METRIC}_total", ""), 0.0)),
        "inference_stats": {phase: duration(phase) for phase in INFERENCE_STATS},
        "response_stats": {},
        "batch_stats": [],  # per-batch-size figures are not kept (their label would be unbounded)
        "memory_usage": [],
    }


def statistics(model: DigitModel) -> dict[str, Any]:
    """Triton's ``$stats_model_response``: this server serves one model version."""
    return {"model_stats": [model_statistics(model)]}
