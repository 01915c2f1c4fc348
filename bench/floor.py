"""The floor: what each step of a /predict costs on its own, in-process, no HTTP.

Decode (Pillow), the service's preprocessing (``service.images``), model input, onnxruntime at batch 1
and batched (per image), JSON parsing of a pixels body, response serialization: so the serving report
can say where each millisecond of a request goes. Timings are the median of REPEATS batches of calls
(microseconds per call), on one thread, on the same canvas PNG and pixels body the load test sends.

    .venv/bin/python bench/floor.py            # prints a table, writes bench/results/floor-latest.json
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import payloads  # noqa: E402

from contract import INPUT_NAME, OUTPUT_NAME, to_model_input  # noqa: E402
from service import images  # noqa: E402
from service.app import create_app  # noqa: E402
from service.logs import logging_config  # noqa: E402
from service.model import session_options  # noqa: E402
from service.settings import Settings  # noqa: E402

MODEL = Path(os.environ.get("DIGITS_MODEL_PATH", REPO / "models" / "digits" / "3" / "model.onnx"))
REPEATS = 7
TARGET_SECONDS = 0.2  # per repeat
BATCH = 64
MAX_PIXELS = 40_000_000
RESULTS = REPO / "bench" / "results"


def measure(fn: Callable[[], object]) -> tuple[float, float]:
    """(CPU, wall) median microseconds per call; calls per repeat sized to ~TARGET_SECONDS.

    CPU time is the whole process's (onnxruntime's own threads included); on a machine shared with other
    jobs it is the steadier figure, wall time also counts the slices the others took."""
    fn()
    start = time.perf_counter()
    calls = 1
    while time.perf_counter() - start < 0.02:
        fn()
        calls += 1
    per_repeat = max(1, int(calls * TARGET_SECONDS / 0.02))
    cpu, wall = [], []
    for _ in range(REPEATS):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(per_repeat):
            fn()
        cpu.append((time.process_time() - c0) / per_repeat * 1e6)
        wall.append((time.perf_counter() - w0) / per_repeat * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def session(intra: int) -> ort.InferenceSession:
    """The service's own session options (service.model), with ``intra`` onnxruntime threads."""
    options = session_options(intra, 1)
    return ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])


# --- the app in-process: Litestar + handlers, no HTTP server, no socket ---------------------------------


def multipart(png: bytes) -> tuple[bytes, bytes]:
    boundary = "----floorboundary7MA4YWxkTrZu0gW"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="canvas.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return (
        f"multipart/form-data; boundary={boundary}".encode(),
        head + png + f"\r\n--{boundary}--\r\n".encode(),
    )


async def asgi_call(app: object, method: str, path: str, content_type: bytes | None, body: bytes) -> int:
    """One HTTP request straight into the ASGI app; returns the status."""
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected
        return {}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)  # type: ignore[operator]
    return status


async def app_floor(png: bytes, pixels_body: bytes) -> list[tuple[str, float, float, str]]:
    """CPU per request of the whole app (routing, DI, parsing, handler, thread hop, serialization,
    telemetry; access log written to /dev/null), sequential calls, all threads' CPU counted."""
    settings = Settings()
    logging.config.dictConfig(logging_config(settings.log_level))
    devnull = open(os.devnull, "w")  # noqa: SIM115
    for handler in logging.getLogger("service").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    app = create_app(settings)
    startup: asyncio.Queue = asyncio.Queue()
    done: asyncio.Queue = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, startup.get, done.put)
    )
    assert (await done.get())["type"] == "lifespan.startup.complete"
    mp_type, mp_body = multipart(png)
    cases = [
        ("app: GET /healthz", "GET", "/healthz", None, b"", 3000),
        ("app: POST /predict JSON pixels", "POST", "/predict", b"application/json", pixels_body, 1500),
        ("app: POST /predict canvas (multipart)", "POST", "/predict", mp_type, mp_body, 300),
    ]
    rows = []
    for name, method, path, ctype, body, calls in cases:
        for _ in range(max(calls // 10, 20)):
            status = await asgi_call(app, method, path, ctype, body)
        if status != 200:
            raise RuntimeError(f"{name}: status {status}")
        cpu, wall = [], []
        for _ in range(REPEATS):
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await asgi_call(app, method, path, ctype, body)
            cpu.append((time.process_time() - c0) / calls * 1e6)
            wall.append((time.perf_counter() - w0) / calls * 1e6)
        rows.append((name, statistics.median(cpu), statistics.median(wall), "in-process ASGI, no server"))
        print(
            f"{name:48s} cpu {rows[-1][1]:9.1f} us  wall {rows[-1][2]:9.1f} us  in-process ASGI", flush=True
        )
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan
    devnull.close()
    return rows


def main() -> None:
    png = payloads.canvas_png()
    pixels_body = json.dumps({"pixels": payloads.mnist_pixels()}, separators=(",", ":")).encode()
    decoded = images.decode_image(png, max_pixels=MAX_PIXELS)
    digit = images.to_mnist(decoded)
    rows: list[tuple[str, float, float, str]] = []

    def add(name: str, fn: Callable[[], object], note: str = "") -> tuple[float, float]:
        cpu, wall = measure(fn)
        rows.append((name, cpu, wall, note))
        print(f"{name:48s} cpu {cpu:9.1f} us  wall {wall:9.1f} us  {note}", flush=True)
        return cpu, wall

    print(f"canvas PNG: {len(png)} bytes, {decoded.mode} {decoded.size}; model: {MODEL}")
    # --- image path
    add("png: Image.open + load (Pillow decode)", lambda: Image.open(io.BytesIO(png)).load())
    add("images.decode_image (checks, EXIF, decode)", lambda: images.decode_image(png, max_pixels=MAX_PIXELS))
    add("images.to_mnist (ink map + 28x28 layout)", lambda: images.to_mnist(decoded))
    add("images.read_digit (decode + to_mnist)", lambda: images.read_digit(png, max_pixels=MAX_PIXELS))
    add("images.png_base64 (?include=preprocessed)", lambda: images.png_base64(digit))
    # --- model
    x1 = to_model_input(digit)
    add("contract.to_model_input (uint8 -> float32)", lambda: to_model_input(digit))
    batch = to_model_input(np.repeat(digit[None], BATCH, axis=0))
    for intra in (1, 2):
        sess = session(intra)
        add(f"onnxruntime batch 1, intra_op={intra}", lambda s=sess: s.run([OUTPUT_NAME], {INPUT_NAME: x1}))
        per_batch = add(
            f"onnxruntime batch {BATCH}, intra_op={intra}",
            lambda s=sess: s.run([OUTPUT_NAME], {INPUT_NAME: batch}),
        )
        name = f"  = per image at batch {BATCH}, intra_op={intra}"
        rows.append((name, per_batch[0] / BATCH, per_batch[1] / BATCH, "derived"))
        print(f"{name:48s} cpu {rows[-1][1]:9.1f} us  wall {rows[-1][2]:9.1f} us  derived")
    # --- JSON in and out
    add("json.loads pixels body (stdlib)", lambda: json.loads(pixels_body))
    add(
        "np.asarray(pixels list) uint8", lambda: np.asarray(json.loads(pixels_body)["pixels"], dtype=np.uint8)
    )
    try:
        import msgspec

        add("msgspec.json.decode pixels body", lambda: msgspec.json.decode(pixels_body))
    except ImportError:
        msgspec = None
    probs = session(1).run([OUTPUT_NAME], {INPUT_NAME: x1})[0][0]
    answer = {
        "label": int(probs.argmax()),
        "probabilities": probs.tolist(),
        "confidence": float(probs.max()),
        "model": {"name": "digits", "version": "1"},
    }
    add("response: probs.tolist() + dict", lambda: {"probabilities": probs.tolist()})
    add("response: json.dumps (stdlib)", lambda: json.dumps(answer).encode())
    if msgspec is not None:
        add("response: msgspec.json.encode", lambda: msgspec.json.encode(answer))

    # --- the whole app, in-process
    rows.extend(asyncio.run(app_floor(png, pixels_body)))

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "model": str(MODEL.relative_to(REPO) if MODEL.is_relative_to(REPO) else MODEL),
        "png_bytes": len(png),
        "repeats": REPEATS,
        "versions": {"onnxruntime": ort.__version__, "numpy": np.__version__, "pillow": Image.__version__},
        "rows_us": [
            {"step": name, "cpu_us": round(cpu, 2), "wall_us": round(wall, 2), "note": note}
            for name, cpu, wall, note in rows
        ],
    }
    (RESULTS / "floor-latest.json").write_text(json.dumps(out, indent=1))
    print(f"results: {RESULTS / 'floor-latest.json'}")


if __name__ == "__main__":
    main()
