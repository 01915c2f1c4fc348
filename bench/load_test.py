"""Load and soak test: /predict (PNG uploads and JSON), /predict/batch and /fit-line together, on loopback.

Starts ``python -m service`` on a free port of 127.0.0.1, warms it up, then runs one wrk process per route
at the same time (their connections add up to --concurrency) for --duration seconds, and reports per
route: requests, throughput, p50/p90/p99 latency and errors (socket errors and non-2xx answers). The
server's resident memory (the whole process tree: supervisor and workers) is read after the warm-up and
after the run; the run passes when there are zero errors and the memory grew by at most --max-growth.

    .venv/bin/python bench/load_test.py                    # 64 connections, 60 s, one worker
    .venv/bin/python bench/load_test.py --workers 2 --duration 120

Bounded: loopback only, at most 600 s and 512 connections. Not run in CI (it needs a quiet machine and
minutes); the figures go to docs/hardening.md and bench/results/load-*.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
LUA = REPO / "bench" / "load" / "post_body.lua"
RESULTS = REPO / "bench" / "results"
BOUNDARY = "loadtestboundary7MA4YWxkTrZu0gW"
MAX_DURATION, MAX_CONNECTIONS = 600, 512


# --- payloads: what real clients send -------------------------------------------------------------------


def canvas_png(digit_seed: int) -> bytes:
    """A 280x280 canvas export: dark strokes on a transparent background, like the web page sends."""
    rng = np.random.default_rng(digit_seed)
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    points = [(int(x), int(y)) for x, y in rng.uniform(60, 220, size=(5, 2))]
    pen.line(points, fill=(20, 20, 20, 255), width=18, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(files: list[bytes]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="d{i}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + data
        + b"\r\n"
        for i, data in enumerate(files)
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def mnist_pixels(seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    pixels = np.zeros((28, 28), dtype=int)
    column = int(rng.integers(11, 16))
    pixels[4:24, column : column + 3] = 255
    return pixels.ravel().tolist()


def fit_points(n: int = 200) -> dict:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1000, n)
    y = 3.5 * x - 20 + rng.normal(0, 50, n)
    return {"x": x.round(4).tolist(), "y": y.round(4).tolist()}


@dataclass
class Route:
    name: str
    path: str
    body: bytes
    content_type: str
    share: int  # parts of the concurrency


def routes(batch_size: int) -> list[Route]:
    multi = f"multipart/form-data; boundary={BOUNDARY}"
    return [
        Route("predict_png", "/predict", multipart([canvas_png(1)]), multi, 1),
        Route(
            "predict_json",
            "/predict",
            json.dumps({"pixels": mnist_pixels(2)}).encode(),
            "application/json",
            1,
        ),
        Route(
            "predict_batch",
            "/predict/batch",
            multipart([canvas_png(10 + i) for i in range(batch_size)]),
            multi,
            1,
        ),
        Route("fit_line", "/fit-line", json.dumps(fit_points()).encode(), "application/json", 1),
    ]


# --- the server and its memory ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_rss_mb(pid: int) -> float:
    total_kb = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def start_server(workers: int, log_path: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DIGITS_HOST": "127.0.0.1", "DIGITS_ACCESS_LOG": "false", **extra_env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port), "--workers", str(workers)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}: see {log_path}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the server was not ready within 60 s")


# --- wrk -----------------------------------------------------------------------------------------------


def run_wrk(
    url: str, plan: list[tuple[Route, int]], seconds: int, workdir: Path, api_key: str
) -> dict[str, dict]:
    """One wrk per route, all at once; returns each route's LOADJSON summary."""
    running = []
    for route, connections in plan:
        body_file = workdir / f"{route.name}.body"
        body_file.write_bytes(route.body)
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(LUA),
            url + route.path,
            "--",
            str(body_file),
            route.content_type,
            api_key,
        ]
        running.append(
            (route, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        )
    results = {}
    for route, process in running:
        output, _ = process.communicate(timeout=seconds + 120)
        line = next((line for line in output.splitlines() if line.startswith("LOADJSON ")), None)
        if line is None:
            raise SystemExit(f"wrk gave no summary for {route.name}:\n{output}")
        results[route.name] = json.loads(line.removeprefix("LOADJSON "))
    return results


def split(concurrency: int, route_list: list[Route]) -> list[tuple[Route, int]]:
    total_share = sum(route.share for route in route_list)
    plan = [(route, max(1, concurrency * route.share // total_share)) for route in route_list]
    plan[0] = (plan[0][0], plan[0][1] + concurrency - sum(c for _, c in plan))
    return plan


def check_answers(url: str, route_list: list[Route], api_key: str) -> None:
    """Each payload is answered 200 before the run (a bad payload would make the figures meaningless)."""
    headers = {"x-api-key": api_key} if api_key else {}
    for route in route_list:
        response = httpx.post(
            url + route.path,
            content=route.body,
            headers={"content-type": route.content_type, **headers},
            timeout=30,
        )
        if response.status_code != 200:
            raise SystemExit(f"{route.name}: {response.status_code} {response.text[:300]}")


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--duration", type=int, default=60, help="seconds of the measured run")
    cli.add_argument("--warmup", type=int, default=10, help="seconds of warm-up before the memory baseline")
    cli.add_argument("--concurrency", type=int, default=64, help="connections, over all routes together")
    cli.add_argument("--workers", type=int, default=1, help="uvicorn workers of the server")
    cli.add_argument("--batch-size", type=int, default=8, help="images per /predict/batch request")
    cli.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth after warm-up")
    cli.add_argument("--api-key", default="", help="run the server with this API key and send it")
    cli.add_argument("--out", type=Path, default=RESULTS / "load-latest.json")
    args = cli.parse_args()
    if not (1 <= args.duration <= MAX_DURATION and 4 <= args.concurrency <= MAX_CONNECTIONS):
        cli.error(f"duration must be 1..{MAX_DURATION} s and concurrency 4..{MAX_CONNECTIONS}")

    route_list = routes(args.batch_size)
    plan = split(args.concurrency, route_list)
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        workdir = Path(tmp)
        env = {"DIGITS_API_KEY": args.api_key} if args.api_key else {}
        process, url = start_server(args.workers, workdir / "server.log", env)
        try:
            check_answers(url, route_list, args.api_key)
            rss_start = tree_rss_mb(process.pid)
            print(
                f"server {url} (pid {process.pid}, {args.workers} worker(s)), RSS at start {rss_start:.1f} MB"
            )
            print(f"warm-up {args.warmup} s ...", flush=True)
            run_wrk(url, plan, args.warmup, workdir, args.api_key)
            time.sleep(2)
            rss_warm = tree_rss_mb(process.pid)
            print(
                f"RSS after warm-up {rss_warm:.1f} MB; {args.duration} s at {args.concurrency} connections:"
            )
            print("  " + ", ".join(f"{route.name} x{connections}" for route, connections in plan), flush=True)
            started = time.time()
            results = run_wrk(url, plan, args.duration, workdir, args.api_key)
            time.sleep(2)
            rss_end = tree_rss_mb(process.pid)
            healthy = httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=60)
        server_log = (workdir / "server.log").read_text(errors="replace")

    total_errors = 0
    report_routes = {}
    header = ("route", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors")
    print("\n" + f"{header[0]:<15}" + "".join(f"{name:>10}" for name in header[1:]))
    for route, connections in plan:
        result = results[route.name]
        errors = sum(result["errors"].values())
        total_errors += errors
        seconds = result["duration_us"] / 1e6
        latency = result["latency_us"]
        row = {
            "path": route.path,
            "connections": connections,
            "requests": result["requests"],
            "rps": round(result["requests"] / seconds, 1),
            "p50_ms": round(latency["p50"] / 1000, 2),
            "p90_ms": round(latency["p90"] / 1000, 2),
            "p99_ms": round(latency["p99"] / 1000, 2),
            "max_ms": round(latency["max"] / 1000, 2),
            "errors": result["errors"],
        }
        report_routes[route.name] = row
        values = (
            row["requests"],
            row["rps"],
            row["p50_ms"],
            row["p90_ms"],
            row["p99_ms"],
            row["max_ms"],
            errors,
        )
        print(f"{route.name:<15}" + "".join(f"{value:>10}" for value in values))
    growth = (rss_end - rss_warm) / rss_warm
    tracebacks = server_log.count("Traceback")
    passed = (
        total_errors == 0 and growth <= args.max_growth and healthy and tracebacks == 0 and exit_code == 0
    )
    print(
        f"\nRSS (process tree): start {rss_start:.1f} MB, after warm-up {rss_warm:.1f} MB, after the run "
        f"{rss_end:.1f} MB ({growth:+.1%}, allowed {args.max_growth:.0%}); errors {total_errors}; "
        f"server tracebacks {tracebacks}; exit code {exit_code}: {'PASS' if passed else 'FAIL'}"
    )
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {"cpus": os.cpu_count(), "load_avg_before": os.getloadavg()},
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "batch_size": args.batch_size,
            "api_key": bool(args.api_key),
        },
        "routes": report_routes,
        "rss_mb": {
            "start": round(rss_start, 1),
            "after_warmup": round(rss_warm, 1),
            "after_run": round(rss_end, 1),
        },
        "rss_growth": round(growth, 4),
        "errors": total_errors,
        "server_exit_code": exit_code,
        "passed": passed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
