# The digits service image, and a `train` target that retrains the model into a mounted models/ folder.
#
#   docker build -t digits-service .                       # runtime image (the default, last-but-one stage)
#   docker build --target runtime -t digits-service .
#   docker build --target train -t digits-train .          # large: torch (CPU) + the training package
#
# The runtime image holds a venv with the service and its pinned base dependencies (requirements/
# service.lock), plus models/. No torch, no compilers, no tests, no pip caches, no training code.
# PYTHON_IMAGE is a pinned python:3.11 slim tag; any image with python3 + venv works (CI here builds on
# a debootstrap stand-in, see scripts/container-smoke.sh).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ------------------------------------------------------------------------------------------- build
# A venv at /opt/venv with the locked dependencies, then the service itself (no deps: they are locked).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes, not when the code does.
COPY requirements/service.lock requirements/service.lock
RUN pip install --no-cache-dir -r requirements/service.lock
# Only what the service needs; training/ is not in the context's copy, so setuptools' package finder
# (include = service*, training*) finds the service package and the top-level contract module only.
COPY pyproject.toml README.md contract.py ./
COPY service/ service/
# pip check: the lock is complete and consistent. Then drop what a runtime never uses: pip, setuptools
# and the dependencies' own test suites.
RUN pip install --no-cache-dir --no-deps . \
    && pip check \
    && pip uninstall --yes pip setuptools \
    && find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
    && python -c "import service, contract" \
    && ! python -c "import training" 2>/dev/null

# ----------------------------------------------------------------------------------------- train
# Offline retraining: `docker compose --profile train run --rm train` writes models/digits/ into the
# mounted folder. CPU wheels of torch from the PyTorch index keep it to ~1 GB instead of CUDA's ~5 GB.
FROM ${PYTHON_IMAGE} AS train
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    DIGITS_DATA_DIR=/app/data
RUN python3 -m venv /opt/venv \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
        torch==2.14.1 torchvision==0.29.1
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
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DIGITS_HOST=0.0.0.0 \
    DIGITS_PORT=8000 \
    DIGITS_MODEL_PATH=/app/models/digits/1/model.onnx
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root, readable by everyone: the service user can read the model but not change it.
COPY models/ models/
USER 10001:10001
EXPOSE 8000
# No curl in a slim image: Python's urllib. Written without spaces on purpose, because podman's
# Docker-compatible API splits exec-form healthcheck arguments on spaces.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "__import__('urllib.request').request.urlopen('http://127.0.0.1:8000/healthz',timeout=4)"]
CMD ["python", "-m", "service"]
