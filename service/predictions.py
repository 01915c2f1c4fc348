"""Prediction ids, and the hand-off of each prediction to the optional sample store.

Every prediction (/predict, each /predict/batch item, each /read digit, each V2 infer image) gets an id
from :func:`new_prediction_id`: 32 hex digits, the first 12 the creation time in milliseconds (sortable,
like a UUIDv7), the rest random. The time lets ``POST /feedback`` tell a prediction whose row the
background writer may still be writing (seconds old: wait briefly) from an unknown id (answer 404 now).

Routes hand predictions to a :class:`Recorder` (``service.store.writer.SampleWriter`` when
``DIGITS_STORE_URL`` is set, else nothing); this module imports no database code.
"""

from __future__ import annotations

import re
import secrets
import time
from abc import ABC, abstractmethod

import numpy as np

PREDICTION_ID_HEADER = "X-Prediction-Id"  # one id, or the ids of a batch comma-separated in order
PREDICTION_ID_PATTERN = r"^[0-9a-f]{32}$"
_ID = re.compile(PREDICTION_ID_PATTERN)


def new_prediction_id() -> str:
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def id_age_seconds(prediction_id: str) -> float | None:
    """How long ago the id was made (None: not one of ours)."""
    if not _ID.match(prediction_id):
        return None
    return time.time() - int(prediction_id[:12], 16) / 1000


def header_value(ids: list[str]) -> str:
    return ",".join(ids)


class Recorder(ABC):
    """Where predictions go when the sample store is on (it must never block or raise)."""

    @abstractmethod
    def record(
        self,
        route: str,
        ids: list[str],
        pixels: np.ndarray,
        probabilities: np.ndarray,
        model_name: str,
        model_version: str,
        looks_like_digit: list[bool | None] | None = None,
    ) -> None:
        """``pixels``: [N, 28, 28] 0..255 as the model saw them (MNIST format); ``probabilities``: [N, 10]."""
