"""What both peer servers share: the repository on sys.path (for ``contract`` and the service's one
preprocessing, ``service.images``, which is plain Pillow + numpy), the model path and the answer shape."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MODEL_PATH = Path(os.environ.get("DIGITS_MODEL_PATH", REPO_ROOT / "models" / "digits" / "3" / "model.onnx"))
MAX_PIXELS = 40_000_000  # the service's default limit


def answer(probabilities: list[float], name: str, version: str) -> dict:
    """The service's /predict response shape."""
    label = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {
        "label": label,
        "probabilities": probabilities,
        "confidence": probabilities[label],
        "model": {"name": name, "version": version},
    }
