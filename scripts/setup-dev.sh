#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine: a venv with the service, the training
# extra (torch/torchvision as the guide pins them, CPU use) and the dev tools, plus Debian's Chromium
# for the browser tests. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, alone, so pip takes the pinned pair from the local disk instead of resolving a newer build.
.venv/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install --quiet -e ".[train,dev,store]"

# Debian packages: Chromium for the browser tests, fonts for the printed-digit tests, PostgreSQL for the
# sample store's tests (they start their own server from its binaries; the package's own cluster is unused).
apt_packages=(chromium fonts-dejavu-core fonts-liberation postgresql)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup-dev: missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    fi
fi
echo "setup-dev: ready (.venv)"
