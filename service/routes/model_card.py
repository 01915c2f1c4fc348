"""``GET /model``: the model card - what was served, how well it did, what it expects."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from litestar import Controller, get
from litestar.di import NamedDependency

from service.model import DigitModel
from service.openapi import ApiOperation
from service.schemas import ContractInfo, ModelCard, ServingInfo
from service.settings import Settings

METRIC_WORDS = ("accuracy", "loss", "error")


def _metrics(card: dict[str, Any]) -> dict[str, float]:
    """Numeric metadata whose key names a metric (test_accuracy, validation_accuracy, test_loss, ...).

    Only finite numbers: a "nan" in a model's metadata would otherwise reach the JSON as null."""
    metrics = {}
    for key, value in card.items():
        if any(word in key for word in METRIC_WORDS):
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                metrics[key] = number
    return metrics


def build_card(model: DigitModel, settings: Settings) -> ModelCard:
    card = model.card()
    return ModelCard(
        name=model.name,
        version=model.version,
        file=model.path.name,
        trained_at=model.metadata.get("trained_at"),
        data_sha256=model.metadata.get("data_sha256"),
        metrics=_metrics(card),
        contract=ContractInfo(),
        settings=card.get("settings"),
        history=card.get("history"),
        metadata=model.metadata,
        serving=ServingInfo(
            workers=settings.workers,
            intra_op_threads=model.intra_op_threads,
            inter_op_threads=model.inter_op_threads,
            max_body_bytes=settings.max_body_bytes,
            max_image_pixels=settings.max_image_pixels,
            max_full_decode_pixels=settings.max_full_decode_pixels,
            max_batch=settings.max_batch,
            fit_max_points=settings.fit_max_points,
            fit_max_work=settings.fit_max_work,
        ),
    )


class ModelCardController(Controller):
    path = "/model"
    tags: ClassVar[list[str]] = ["model"]

    @get(sync_to_thread=False, operation_class=ApiOperation, summary="The model card")
    def model_card(
        self, model: NamedDependency[DigitModel], settings: NamedDependency[Settings]
    ) -> ModelCard:
        """Name, version, test/validation metrics, training recipe and history from the ONNX metadata, the
        input/output contract, and the limits this server enforces (``serving``: body bytes, image
        pixels, batch size, line-fit points and work). 401 without the API key when one is
        configured."""
        return build_card(model, settings)
