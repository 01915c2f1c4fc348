"""The Litestar application: ``create_app(settings)`` wires routes, dependencies, errors and telemetry.

The model is loaded once per process in the lifespan (or handed in ready-made by ``python -m service``,
which loads it first so a bad model stops startup with one clear line) and kept on ``app.state.model``.
Handlers receive it, the settings and the inference limiter by dependency injection as ``model``,
``settings`` and ``inference_limiter``. Inference runs in worker threads bounded by that limiter so the
event loop never waits on the model.

To add a router or controller (``/v2``, the web page), append it to ``ROUTE_HANDLERS`` - one line.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import pydantic
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.pydantic import PydanticPlugin

from service import errors, images, linefit, reload, repository, sample_store, schema_page, security, signals
from service.model import DigitModel
from service.routes.admin import AdminController
from service.routes.feedback import FeedbackController
from service.routes.fit_line import FitLineController
from service.routes.health import HealthController
from service.routes.metrics import metrics
from service.routes.model_card import ModelCardController
from service.routes.predict import PredictController
from service.routes.read import ReadController
from service.routes.ui import ui_router
from service.settings import Settings
from service.telemetry import RequestTelemetry
from service.v2.grpc import grpc_lifespan
from service.v2.routes import v2_aware, v2_router

log = logging.getLogger("service.app")

ROUTE_HANDLERS: list[Any] = [
    HealthController,
    ModelCardController,
    AdminController,
    PredictController,
    FeedbackController,
    ReadController,
    metrics,
    v2_router,
    ui_router,
]


# The providers form one chain, settings -> inference_limiter -> model, though none needs the other:
# Litestar resolves independent dependencies of one handler in an anyio task group (~0.1 ms CPU per
# request, measured in-process), dependent ones in sequence. The model comes last because it may be
# missing (readiness reads it from the state instead).


def provide_model(state: State, inference_limiter: NamedDependency[anyio.CapacityLimiter]) -> DigitModel:
    del inference_limiter  # only orders the chain
    return state.model


def provide_inference_limiter(state: State, settings: NamedDependency[Settings]) -> anyio.CapacityLimiter:
    """The slots for inference and line fits (DIGITS_INFERENCE_THREADS per process)."""
    del settings  # only orders the chain
    return state.inference_limiter


def provide_settings(state: State) -> Settings:
    return state.settings


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Load the model once (unless handed in), size the inference pool, log the card."""
    settings: Settings = app.state.settings
    if app.state.get("model") is None:
        app.state.model = await anyio.to_thread.run_sync(lambda: repository.load_configured(settings))
    app.state.inference_limiter = anyio.CapacityLimiter(settings.inference_threads)
    model: DigitModel = app.state.model
    log.info(
        "model loaded",
        extra={
            "fields": {
                "model": model.name,
                "version": model.version,
                "path": str(model.path),
                "test_accuracy": model.metadata.get("test_accuracy"),
                "validation_accuracy": model.metadata.get("validation_accuracy"),
                "trained_at": model.metadata.get("trained_at"),
                "intra_op_threads": model.intra_op_threads,
                "inter_op_threads": model.inter_op_threads,
                "inference_threads": settings.inference_threads,
            }
        },
    )
    yield


def create_app(settings: Settings | None = None, *, model: DigitModel | None = None) -> Litestar:
    """The app for ``settings`` (default: ``DIGITS_*`` env vars); a given ``model`` is not loaded again."""
    settings = settings or Settings()
    app = Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            # /fit-line's own body limit: a million points as JSON are larger than any picture.
            Router(
                "/",
                route_handlers=[FitLineController],
                request_max_body_size=settings.fit_max_body_bytes,
                opt={"body_limit_setting": "DIGITS_FIT_MAX_BODY_BYTES"},
            ),
        ],
        dependencies={
            "model": Provide(provide_model, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "inference_limiter": Provide(provide_inference_limiter, sync_to_thread=False),
            "sample_store": Provide(sample_store.provide_sample_store, sync_to_thread=False),
        },
        lifespan=[
            lifespan,
            sample_store.store_lifespan,  # DIGITS_STORE_URL: the sample store's writer (else nothing)
            reload.reloader_lifespan,
            signals.sighup_lifespan,  # SIGHUP, /admin/reload
            grpc_lifespan,  # DIGITS_GRPC_PORT: gRPC on the same model, limits and reloads
        ],
        state=State({"settings": settings, "model": model}),
        exception_handlers={
            HTTPException: v2_aware(errors.http_exception_handler),  # /v2 answers {"error"}
            errors.ApiError: errors.api_error_handler,
            images.ImageError: errors.domain_error_handler,
            linefit.FitError: errors.domain_error_handler,
            pydantic.ValidationError: errors.pydantic_error_handler,
            Exception: errors.internal_error_handler,
        },
        plugins=[PydanticPlugin(exclude_none=True)],
        request_max_body_size=settings.max_body_bytes,
        cors_config=security.cors_config(settings),
        middleware=security.middleware(settings),  # the rate limit, when configured
        multipart_form_part_limit=settings.max_batch + 16,
        security=security.requirements(settings),  # with an API key: every handler needs it (documented)
        openapi_config=OpenAPIConfig(
            title="digits",
            components=security.openapi_components(settings),
            security=security.requirements(settings),
            version="1",
            description="Reads handwritten digits (MNIST-trained ONNX model) and fits lines with SGD. "
            "Every error is RFC 9457 problem+json.",
            use_handler_docstrings=True,  # each operation's description: what it does, limits, errors
            openapi_router=schema_page.router(),  # /schema: Swagger UI from this service, no CDN
            render_plugins=schema_page.render_plugins(),
        ),
        logging_config=None,
    )
    # Outermost layer inside Litestar: sees every request, matched or not (see service.telemetry).
    # Inside it: the API key (before routing) and security headers on every response (service.security).
    app.asgi_handler = RequestTelemetry(
        security.SecurityLayer(app.asgi_handler, settings), log_requests=settings.access_log
    )
    return app
