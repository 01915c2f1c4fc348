"""The service runs on the base dependencies alone: building it never loads torch, onnx or training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import service.__main__, service.app
from service.settings import Settings
service.app.create_app(Settings())
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'torchvision', 'training', 'onnx'})
print(','.join(heavy))
"""


def test_the_service_never_imports_torch_torchvision_training_or_onnx() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
