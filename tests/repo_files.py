"""Where the tests find the repository and the shipped model: one definition for every test folder.

A plain module (importable by name from any test: pytest puts tests/ on sys.path for tests/conftest.py),
so module-level constants can use it too, not only fixtures.
"""

from __future__ import annotations

from pathlib import Path

from service.settings import DEFAULT_MODEL_PATH

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO_ROOT / "models" / "digits"  # the Triton-style repository: <version>/model.onnx
SHIPPED_MODEL = (
    DEFAULT_MODEL_PATH  # the model every test serves (the service's default), unless it builds its own
)
