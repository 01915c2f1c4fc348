"""Where the tests find the repository and the shipped model: one definition for every test folder.

A plain module (importable by name from any test: pytest puts tests/ on sys.path for tests/conftest.py),
so module-level constants can use it too, not only fixtures.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO_ROOT / "models" / "digits"  # the Triton-style repository: <version>/model.onnx
SHIPPED_MODEL = MODEL_DIR / "1" / "model.onnx"  # the model every test serves, unless it builds its own
