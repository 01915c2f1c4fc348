# The digits service image, and a `train` target that retrains the model into a mounted models/ folder.
#
#   docker build -t digits-service .                       # runtime image (the default: last stage)
#   docker build --target runtime -t digits-service .
#   docker build --target train -t digits-train .          # large: torch (CPU) + the training package
#
# The runtime image holds a venv with the service's pinned base dependencies (requirements/
# service.lock), the service itself (/opt/service) and models/. No torch, no compilers, no pip, no
# tests, no caches, no training code.
# PYTHON_IMAGE is a pinned python:3.11 slim tag; any image with python3 + venv works (CI here builds on
# a debootstrap stand-in, see scripts/container-smoke.sh).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# -------------------------------------------------------------------------------------------- deps
# A venv at /opt/venv with the locked dependencies only: rebuilt when the lock changes, not the code.
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
COPY requirements/service.lock /tmp/service.lock
RUN pip install --no-cache-dir -r /tmp/service.lock \
    && pip check \
    && find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +

# -------------------------------------------------------------------------------------------- venv
# What the runtime copies: the same venv without pip and setuptools (a runtime never installs).
FROM deps AS venv
RUN pip uninstall --yes pip setuptools

# ------------------------------------------------------------------------------------------- build
# The service as an installed distribution (its metadata feeds /v2's server version) in its own
# folder, so a code change rebuilds a layer of kilobytes, not the 250 MB venv. Only what the service
# needs is copied: setuptools' package finder (include = service*, training*) then finds the service
# package and the top-level contract module, and no training/.
FROM deps AS build
WORKDIR /src
COPY pyproject.toml README.md contract.py ./
COPY service/ service/
# pip check with the service on the path: the locked venv satisfies the service's own requirements.
# The import checks run outside /src, so they see only what /opt/service holds.
WORKDIR /
RUN pip install --no-cache-dir --no-deps --target /opt/service /src \
    && PYTHONPATH=/opt/service pip check \
    && PYTHONPATH=/opt/service python -c "import service.app, contract" \
    && ! PYTHONPATH=/opt/service python -c "import training" 2>/dev/null

# ----------------------------------------------------------------------------------------- train
# Offline retraining: `docker compose --profile train run --rm train` writes models/digits/ into the
# mounted folder. torch's CPU wheels from the PyTorch index, not PyPI's default build that pulls several
# GB of nvidia-* packages (--build-arg TORCH_INDEX_URL=... for a mirror); pins from pyproject's train extra.
FROM ${PYTHON_IMAGE} AS train
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    DIGITS_DATA_DIR=/app/data
RUN python3 -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" torch==2.14.1 torchvision==0.29.1
WORKDIR /app
COPY requirements/service.lock requirements/service.lock
COPY pyproject.toml README.md contract.py ./
COPY training/ training/
# Editable, so the package's repository-relative defaults point into /app: it writes /app/models/digits
# (mount ./models there) and caches MNIST in $DIGITS_DATA_DIR (mount ./data). Versions come from
# pyproject's train extra (torch/torchvision exact) with the service lock as a constraint.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --constraint requirements/service.lock --editable ".[train]"
# The bind-mounted models/ and data/ belong to the host user; compose sets `user:` to match.
USER 10001:10001
CMD ["python", "-m", "training"]

# --------------------------------------------------------------------------------------- runtime
# One worker per container by default: CPU limits (docker --cpus, Kubernetes limits) leave the CPU
# affinity as it is, so the service's own default (a worker per core it may run on) would count the
# host's cores. Scale with replicas, or set DIGITS_WORKERS with a matching CPU and memory limit.
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/service \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    DIGITS_WORKERS=1 \
    DIGITS_HOST=0.0.0.0 \
    DIGITS_PORT=8000 \
    DIGITS_GRPC_PORT=8001 \
    DIGITS_MODEL_PATH=/app/models/digits/3/model.onnx
# Three layers, least often changed first: dependencies, model, code. All owned by root and readable
# by everyone: the service user can read them, not change them.
COPY --from=venv /opt/venv /opt/venv
WORKDIR /app
COPY models/ models/
COPY --from=build /opt/service /opt/service
USER 10001:10001
# 8000: HTTP (REST, /v2, the page); 8001: the Open Inference Protocol over gRPC (as Triton)
EXPOSE 8000 8001
# No curl in a slim image: Python's urllib. Written without spaces on purpose, because podman's
# Docker-compatible API splits exec-form healthcheck arguments on spaces.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "__import__('urllib.request').request.urlopen('http://127.0.0.1:8000/healthz',timeout=4)"]
CMD ["python", "-m", "service"]
