"""The service runs on the base dependencies alone: building it never loads torch, onnx or training."""

from __future__ import annotations

import subprocess
import sys

from repo_files import REPO_ROOT

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


# The domain and the transport-neutral V2 pieces stay free of the web framework, so a second transport
# (gRPC) or an offline script can use them without Litestar (issue 16's layering).
NO_WEB_FRAMEWORK = [
    "service.model",
    "service.metrics",
    "service.repository",
    "service.v2.errors",
    "service.v2.schemas",
    "service.v2.binary",
    "service.v2.inference",
    "service.v2.statistics",
    "service.v2.model_config",
]
FRAMEWORK_PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
print(','.join(sorted({m.split('.')[0] for m in sys.modules} & {'litestar', 'uvicorn'})))
"""


def test_the_domain_and_the_v2_core_never_import_litestar_or_uvicorn() -> None:
    for module in NO_WEB_FRAMEWORK:
        result = subprocess.run(
            [sys.executable, "-c", FRAMEWORK_PROBE, module],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "", f"{module} loads {result.stdout.strip()}"
