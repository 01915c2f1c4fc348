#!/usr/bin/env bash
# Build the peer servers' venv (BentoML, FastAPI + PyTorch eager, TorchServe; py-spy for profiling) OUTSIDE the project's .venv, so the
# peers' dependency pins never leak into the service. Also installs the load generator (Debian's wrk).
# Idempotent. Usage: bash bench/setup_peers.sh   (PEERS_VENV=/work/peers-venv by default)
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS_VENV=${PEERS_VENV:-/work/peers-venv}
PYTHON=${PYTHON:-python3}

if ! command -v java >/dev/null 2>&1; then
    echo "setup-peers: no java on PATH: TorchServe (peer c) needs Java 17; the other peers work without." >&2
fi
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "setup-peers: install Debian's 'wrk' package (the load generator)." >&2
        exit 1
    fi
fi

if [ ! -x "$PEERS_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$PEERS_VENV"
fi
"$PEERS_VENV/bin/python" -m pip install --quiet --upgrade pip
# torch first and alone: the pinned CPU build from the local disk, as the project's train extra pins it.
"$PEERS_VENV/bin/python" -m pip install --quiet "torch==2.14.1"
# The peers as users install them; same numpy/Pillow/onnxruntime majors as the service.
"$PEERS_VENV/bin/python" -m pip install --quiet \
    "bentoml~=1.4" "fastapi>=0.115" "uvicorn[standard]>=0.30" "python-multipart>=0.0.9" \
    "onnxruntime~=1.32" "onnx~=1.23" "pillow~=13.0" "numpy>=2.2,<3" \
    "torchserve==0.12.0" "torch-model-archiver==0.12.0" "py-spy>=0.4"
"$PEERS_VENV/bin/python" -m pip check || echo "setup-peers: pip check reports conflicts (see above)" >&2
echo "setup-peers: ready ($PEERS_VENV)"
"$PEERS_VENV/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("bentoml", "fastapi", "uvicorn", "torch", "torchserve", "onnxruntime", "pillow", "numpy"):
    print(f"  {name}=={md.version(name)}")
PY
