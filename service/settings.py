"""Service settings: one typed object, read from ``DIGITS_*`` environment variables (and CLI flags).

``python -m service --help`` lists the same fields as flags; the CLI writes its values back into the
environment so every uvicorn worker process builds an identical ``Settings()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service import linefit

# The bundled model, found relative to this checkout (editable install) - overridable by DIGITS_MODEL_PATH.
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = REPO_ROOT / "models" / "digits" / "3" / "model.onnx"
ENV_PREFIX = "DIGITS_"
# Workers default to the cores this process may run on (CPU affinity, so a pinned container counts its
# own): inference is CPU-bound, and one worker per core measured fastest (docs/benchmarks.md).
CORES = max(
    1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 64)
)


class Settings(BaseSettings):
    """Everything an operator may tune. Field descriptions become the ``--help`` text and the README table."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="interface to bind")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to bind (0: any free port)")
    grpc_port: int = Field(
        8001,
        ge=0,
        le=65535,
        description="TCP port of the Open Inference Protocol over gRPC, on the same host (0: off); every "
        "worker serves it (SO_REUSEPORT when there are several)",
    )
    workers: int = Field(
        CORES,
        ge=1,
        le=64,
        description="uvicorn worker processes, each with its own model session (default: the cores)",
    )
    model_path: Path = Field(DEFAULT_MODEL_PATH, description="the ONNX model file meeting contract.py")
    intra_op_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="onnxruntime threads inside one inference (0: one per core). 1 keeps each request on one "
        "core so concurrent requests and workers scale instead of fighting over cores",
    )
    inter_op_threads: int = Field(1, ge=0, le=64, description="onnxruntime threads across graph nodes")
    inference_threads: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=1,
        le=256,
        description="requests decoding + inferring (or fitting a line) at once per worker (default: cores, "
        "at most 4); more slots than cores only add GIL contention and slow the event loop",
    )
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest request body (413 above)")
    fit_max_body_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="largest /fit-line body (413 above): room for fit_max_points points as JSON numbers",
    )
    # Worst-case decode costs per format: bench/decode_limits.py, docs/benchmarks.md.
    max_image_pixels: int = Field(
        108_000_000,
        ge=784,
        description="largest image width*height, checked before decoding (413 above); baseline JPEGs "
        "(what cameras write) are decoded at reduced scale, so a 108 MP phone photo costs little",
    )
    max_full_decode_pixels: int = Field(
        40_000_000,
        ge=784,
        description="largest width*height of a picture decoded at full size (PNG, GIF, BMP, WebP, TIFF, "
        "progressive JPEG; 413 above): its memory and time grow with every pixel",
    )
    max_batch: int = Field(
        256, ge=1, description="most images or instances in one /predict/batch (413 above)"
    )
    fit_max_points: int = Field(
        1_000_000, ge=2, description="most points in one /fit-line request (422 above)"
    )
    fit_max_work: int = Field(
        linefit.DEFAULT_MAX_WORK_UNITS,
        ge=1,
        description="most SGD work in one /fit-line request, points x epochs (422 above); the default "
        "bounds a fit to about a second of one core",
    )
    fit_time_limit: float = Field(
        10.0, gt=0, description="seconds one /fit-line may take, queueing included (503 above)"
    )
    # Access and operations (service.security, service.reload): key, CORS and rate limit off by default.
    api_key: str = Field(
        "",
        repr=False,
        description="API key(s), comma-separated: every route but health and /metrics then needs "
        "X-API-Key or Authorization: Bearer (empty: open). Prefer the env var to the flag",
    )
    cors_origins: str = Field(
        "", description="origins allowed to call from a browser, comma-separated, * for any (empty: no CORS)"
    )
    rate_limit: int = Field(
        0, ge=0, description="requests per client address per rate_limit_unit, per worker (0: no limit)"
    )
    rate_limit_unit: Literal["second", "minute", "hour", "day"] = Field("minute", description="rate unit")
    model_repository: Path | None = Field(
        None,
        description="Triton-style folder (models/digits) of N/model.onnx: serve the newest valid version, "
        "reload on SIGHUP or POST /admin/reload (unset: serve model_path)",
    )
    graceful_timeout: float = Field(
        30.0, gt=0, description="seconds to let requests in flight finish after SIGTERM"
    )
    worker_start_timeout: int = Field(
        60,
        ge=1,
        description="with several workers: seconds a new worker may take to be ready in a rolling restart "
        "before the restart is abandoned and the old worker kept (uvicorn's 5 s is short on a busy host)",
    )
    # The sample store (service.store, docs/feedback.md): off unless a URL is given.
    store_url: str = Field(
        "",
        repr=False,
        description="keep each prediction's 28x28, probabilities and feedback in this database: "
        "sqlite:////path/samples.db or postgresql://user:pass@host/db (empty: off, nothing stored; needs "
        "the 'store' extra)",
    )
    store_sample_rate: float = Field(1.0, ge=0, le=1, description="fraction of predictions stored")
    store_max_rows: int = Field(
        100_000, ge=0, description="rows kept; the oldest beyond are deleted (0: no row limit)"
    )
    store_max_age_days: float = Field(
        30.0, ge=0, description="days a stored prediction is kept (0: no age limit)"
    )
    store_queue: int = Field(
        1000,
        ge=1,
        description="predictions waiting for the store's writer per worker; beyond: dropped, counted",
    )
    store_migrate: bool = Field(
        True,
        description="python -m service migrates the store's schema before its workers start "
        "(false: run `python -m service.store migrate` yourself)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    access_log: bool = Field(True, description="one JSON log line per request")


def env_for(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce ``settings`` in another process (uvicorn workers)."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:  # unset optional field: leave it unset in the worker too
            continue
        env[ENV_PREFIX + name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env
