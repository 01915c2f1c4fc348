"""Peak memory of one pod's service: what the Kubernetes memory request and limit are sized from.

Starts ``python -m service`` with the settings every pod gets (deploy/kubernetes/components/settings/
settings.env: one worker, its inference slots) and the shipped model, on a free port of 127.0.0.1,
then sends heavier and heavier work and reads the process's peak resident memory (``VmHWM``, the
kernel's high-water mark: nothing between two samples is missed) after each step:

1. started and ready;
2. 500 canvas PNGs (the realistic upload), 8 at a time;
3. one picture at the size limits: a PNG of ``DIGITS_MAX_IMAGE_PIXELS`` RGBA pixels (the widest
   mode decoded at full size), under the body limit;
4. as many of those at once as there are inference slots (``DIGITS_INFERENCE_THREADS``);
5. ``/predict/batch`` with as many canvas PNGs as ``DIGITS_MAX_BATCH`` allows.

    .venv/bin/python bench/pod_memory.py          # writes bench/results/pod-memory-latest.json
    .venv/bin/python bench/pod_memory.py --max-image-pixels 10000000   # ...-max-image-pixels-10000000.json

About a minute on 2 cores; not run in CI. The figures go to docs/deploy.md (Kubernetes sizing).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.metadata
import io
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
SETTINGS_ENV = REPO / "deploy" / "kubernetes" / "components" / "settings" / "settings.env"
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))

from service.settings import Settings  # noqa: E402  (the repository's service, not an installed one)


def pod_settings() -> dict[str, str]:
    """settings.env's variables, minus what only makes sense in the pod (address, model volume)."""
    env = {}
    for line in SETTINGS_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    for key in ("DIGITS_HOST", "DIGITS_PORT", "DIGITS_MODEL_REPOSITORY"):
        env.pop(key, None)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mib(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mib": fields["VmRSS"], "peak_rss_mib": fields["VmHWM"]}


def canvas_png() -> bytes:
    """The web page's canvas export: 280x280 RGBA, a black 3 on transparency (as bench/payloads.py)."""
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.arc((80, 40, 200, 140), 200, 90, fill=(0, 0, 0, 255), width=18)
    draw.arc((80, 130, 200, 240), 270, 160, fill=(0, 0, 0, 255), width=18)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def largest_png(max_pixels: int) -> bytes:
    """A square RGBA PNG of at most ``max_pixels`` pixels with a digit drawn across it (compresses well)."""
    side = math.isqrt(max_pixels)
    image = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.line((side // 4, side // 8, side // 4 * 3, side // 8), fill=(0, 0, 0, 255), width=side // 20)
    draw.line((side // 4 * 3, side // 8, side // 3, side // 8 * 7), fill=(0, 0, 0, 255), width=side // 20)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--max-image-pixels", type=int, help="a lower DIGITS_MAX_IMAGE_PIXELS to measure")
    args = cli.parse_args()
    env = {**pod_settings(), "DIGITS_ACCESS_LOG": "false"}  # no log volume in the way of the figures
    name = "pod-memory-latest.json"
    if args.max_image_pixels:
        env["DIGITS_MAX_IMAGE_PIXELS"] = str(args.max_image_pixels)
        name = f"pod-memory-max-image-pixels-{args.max_image_pixels}.json"
    settings = Settings(**{k.removeprefix("DIGITS_").lower(): v for k, v in env.items()})
    port = free_port()
    log = RESULTS / "pod-memory-server.log"
    RESULTS.mkdir(exist_ok=True)
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    steps: list[dict] = []
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("the service did not become ready")

        def record(step: str, statuses: list[int]) -> None:
            steps.append({"step": step, "statuses": sorted(set(statuses)), **memory_mib(server.pid)})
            print(f"{step:<60} {steps[-1]['peak_rss_mib']:>7.1f} MiB peak  (HTTP {steps[-1]['statuses']})")

        record("started, /readyz 200", [200])
        canvas = canvas_png()
        with httpx.Client(base_url=url, timeout=120) as client:

            def post(png: bytes) -> int:
                return client.post("/predict", files={"image": ("d.png", png, "image/png")}).status_code

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                record("500 canvas PNGs, 8 at a time", list(pool.map(post, [canvas] * 500)))
            big = largest_png(settings.max_image_pixels)
            assert len(big) < settings.max_body_bytes, len(big)
            side = math.isqrt(settings.max_image_pixels)
            record(f"one {side}x{side} RGBA PNG ({len(big) // 1024} KiB)", [post(big)])
            slots = settings.inference_threads
            with concurrent.futures.ThreadPoolExecutor(slots) as pool:
                record(
                    f"{slots} of those at once (DIGITS_INFERENCE_THREADS)",
                    list(pool.map(post, [big] * slots)),
                )
            files = [("image", (f"{i}.png", canvas, "image/png")) for i in range(settings.max_batch)]
            record(
                f"/predict/batch of {settings.max_batch} canvas PNGs (DIGITS_MAX_BATCH)",
                [client.post("/predict/batch", files=files).status_code],
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "settings": env,
        "versions": {
            "python": platform.python_version(),
            "pillow": importlib.metadata.version("pillow"),
            "onnxruntime": importlib.metadata.version("onnxruntime"),
            "kernel": platform.release(),
        },
        "limits": {
            "max_image_pixels": settings.max_image_pixels,
            "max_body_bytes": settings.max_body_bytes,
            "max_batch": settings.max_batch,
            "inference_threads": settings.inference_threads,
        },
        "steps": steps,
        "peak_rss_mib": max(step["peak_rss_mib"] for step in steps),
    }
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"peak RSS {result['peak_rss_mib']} MiB -> bench/results/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
