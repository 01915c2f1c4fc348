#!/usr/bin/env bash
# Build the real Dockerfile with podman, run the image the way docker-compose.yml runs it (read-only
# root, tmpfs /tmp, memory/cpu limits) and check that it answers: /healthz, /readyz, POST /predict with
# real PNGs, the image's HEALTHCHECK, non-root user, no torch and no training code inside; then the
# scale profile's replicas behind nginx with deploy/nginx.conf; then a clean stop on SIGTERM.
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
MAX_IMAGE_MB=${SMOKE_MAX_IMAGE_MB:-400}
PY=${SMOKE_PYTHON:-.venv/bin/python}  # the host side: Pillow, httpx

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

cleanup() {
    local rc=$? name
    for name in "$NAME" "$NAME-r1" "$NAME-r2" "$NAME-lb"; do
        podman container exists "$name" 2>/dev/null || continue
        if [ "$rc" -ne 0 ]; then
            echo "container-smoke: last lines of the log of $name:" >&2
            podman logs --tail 30 "$name" >&2 || true
        fi
        podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
    done
    if podman network exists "$NAME-net" 2>/dev/null; then
        podman network rm -f "$NAME-net" >/dev/null 2>&1 || true
    fi
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

mkdir -p "$STATE"
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
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
step_start "run (read-only root, tmpfs /tmp, 1 cpu, 512 MB) on $URL"
# The same constraints as docker-compose.yml's api service.
podman run -d --name "$NAME" --read-only --tmpfs /tmp --memory 512m --cpus 1 \
    -p "127.0.0.1:$PORT:8000" "$IMAGE" >/dev/null || fail "podman run failed"
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
step_end "container checks"

# ------------------------------------------------------------ scale: replicas behind nginx
# The compose `scale` profile's topology with deploy/nginx.conf as it is: two replicas answering to
# the service name api-replica on one network (podman's DNS, like Compose's), nginx in front. No
# registry here, so nginx:*-alpine is replaced by Debian's nginx on the same stand-in base.
NGINX_IMAGE=localhost/nginx-standin:bookworm
step_start "scale: 2 replicas as api-replica behind nginx with deploy/nginx.conf"
if ! podman image exists "$NGINX_IMAGE"; then
    mkdir -p "$WORK/nginx"
    printf '%s\n' "FROM $BASE_IMAGE" \
        "RUN apt-get update && apt-get install -y --no-install-recommends nginx-light && rm -rf /var/lib/apt/lists/*" \
        'CMD ["nginx", "-g", "daemon off;"]' >"$WORK/nginx/Containerfile"
    podman build --pull=never --network host --format docker -t "$NGINX_IMAGE" "$WORK/nginx" \
        >>"$STATE/build.log" 2>&1 || fail "building the nginx stand-in image failed (log: $STATE/build.log)"
fi
podman network create "$NAME-net" >/dev/null
for i in 1 2; do
    podman run -d --name "$NAME-r$i" --network "$NAME-net" --network-alias api-replica \
        --read-only --tmpfs /tmp --memory 512m --cpus 1 "$IMAGE" >/dev/null 2>&1 ||
        fail "podman run of replica $i failed"
done
for i in 1 2; do
    for _ in $(seq 1 60); do
        podman healthcheck run "$NAME-r$i" >/dev/null 2>&1 && break
        sleep 1
    done
    podman healthcheck run "$NAME-r$i" >/dev/null 2>&1 || fail "replica $i did not become healthy in 60 s"
done
LB_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The same config mount and tmpfs folders as the compose lb service.
podman run -d --name "$NAME-lb" --network "$NAME-net" -p "127.0.0.1:$LB_PORT:8080" --read-only \
    --tmpfs /tmp --tmpfs /var/cache/nginx --tmpfs /var/run \
    -v "$PWD/deploy/nginx.conf:/etc/nginx/nginx.conf:ro" "$NGINX_IMAGE" >/dev/null 2>&1 ||
    fail "podman run of nginx failed"
"$PY" - "http://127.0.0.1:$LB_PORT" "$WORK/digit-7.png" <<'PYEOF' || fail "requests through nginx failed (see above)"
"""Through the load balancer: its own probe, the api's probes, and predictions spread over replicas."""

import sys
import time

import httpx

url, png_path = sys.argv[1], sys.argv[2]
with open(png_path, "rb") as file:
    png = file.read()
with httpx.Client(base_url=url, timeout=10) as client:
    for _ in range(100):
        try:
            if client.get("/lb-healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    for path in ("/lb-healthz", "/healthz", "/readyz"):
        status = client.get(path).status_code
        if status != 200:
            sys.exit(f"container-smoke: FAIL: GET {path} through nginx -> {status}")
    for _ in range(20):
        response = client.post("/predict", files={"image": ("digit-7.png", png, "image/png")})
        if response.status_code != 200 or response.json().get("label") != 7:
            sys.exit(f"container-smoke: FAIL: POST /predict through nginx -> {response.status_code} {response.text}")
print("container-smoke:    through nginx: /lb-healthz, /healthz, /readyz -> 200; 20 x POST /predict -> label 7")
PYEOF
upstreams=$(podman logs "$NAME-lb" 2>/dev/null | grep '"POST /predict' | grep -o 'upstream=[0-9.]*:8000' | sort | uniq -c || true)
echo "container-smoke:    POST /predict per replica (nginx access log): $(echo "$upstreams" | sed 's/^ *//' | paste -sd ' ')"
[ "$(echo "$upstreams" | grep -c upstream=)" = 2 ] || fail "nginx did not spread the requests over both replicas"
podman rm -f -t 5 "$NAME-lb" "$NAME-r1" "$NAME-r2" >/dev/null 2>&1
podman network rm -f "$NAME-net" >/dev/null 2>&1
step_end "scale-out through nginx"

step_start "stop (SIGTERM)"
podman stop -t 20 "$NAME" >/dev/null || fail "podman stop failed"
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || fail "the service exited with code $code on SIGTERM (expected a clean 0)"
step_end "graceful stop"

echo "container-smoke: OK: $IMAGE ($size_mb MB; base $base_mb MB) passed every check"
echo "container-smoke: timings:"
printf 'container-smoke:    %s\n' "${TIMINGS[@]}"
total_ms=$(($(now_ms) - T_TOTAL))
echo "container-smoke:    total $((total_ms / 1000)).$((total_ms % 1000 / 100)) s"
