#!/usr/bin/env bash
# Start TorchServe (peer c) in the foreground on 127.0.0.1: archive the handler into a fresh model store,
# write its config, run. Usage: bash bench/peers/torchserve_start.sh --port PORT   (PORT+1: management,
# PORT+2: metrics). Workers: BENCH_WORKERS (default 2). Needs Java 17 and the peers venv.
set -euo pipefail
PORT=8080
while [ $# -gt 0 ]; do case "$1" in --port) PORT=$2; shift 2 ;; *) shift ;; esac; done
HERE="$(cd "$(dirname "$0")" && pwd)"
export DIGITS_REPO="$(cd "$HERE/../.." && pwd)"
PEERS_VENV=${PEERS_VENV:-/work/peers-venv}
WORK=$(mktemp -d /tmp/torchserve-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/store"
"$PEERS_VENV/bin/torch-model-archiver" --model-name digits --version 1 --handler "$HERE/torchserve_handler.py" \
    --export-path "$WORK/store" --force
cat > "$WORK/config.properties" <<CFG
inference_address=http://127.0.0.1:$PORT
management_address=http://127.0.0.1:$((PORT + 1))
metrics_address=http://127.0.0.1:$((PORT + 2))
default_workers_per_model=${BENCH_WORKERS:-2}
disable_token_authorization=true
install_py_dep_per_model=false
enable_envvars_config=false
load_models=digits.mar
model_store=$WORK/store
CFG
export PATH="$PEERS_VENV/bin:$PATH"
cd "$WORK"
"$PEERS_VENV/bin/torchserve" --foreground --ncs --disable-token-auth --ts-config "$WORK/config.properties" \
    --model-store "$WORK/store" --models digits=digits.mar
