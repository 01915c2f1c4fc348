"""V2 inference by transport: gRPC vs HTTP with binary tensors vs HTTP JSON, batch 1 and 64, c=1 and 32.

Starts one ``python -m service --workers 1`` (HTTP and gRPC in the same process, access log off) on
loopback ports, then drives it with tritonclient's asyncio clients, unmodified (``tritonclient.grpc.aio``,
``tritonclient.http.aio`` with binary data on or off for inputs and outputs), ``c`` requests in flight
from one client process. Each cell: a warm-up, then ``--seconds`` of load; per cell requests/s,
images/s, latency p50/p99 and errors. Cells are interleaved by transport (gRPC, binary, JSON for each
batch and concurrency), so background load on the shared machine spreads over them. The client
shares the machine's cores with the server, so the figures compare transports, not peak capacity.
Raw results: bench/results/v2-transports-<time>.json and v2-transports-latest.json; the table between
docs/benchmarks.md's ``<!-- generated:v2-transports -->`` markers is rewritten from that file (also by
``--report``, without a run).

    .venv/bin/python bench/v2_transports.py             # ~1 minute on 2 cores
    .venv/bin/python bench/v2_transports.py --report    # the table again, from the latest file
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
LATEST = RESULTS / "v2-transports-latest.json"
DOC = REPO / "docs" / "benchmarks.md"
BLOCK = re.compile(r"(<!-- generated:v2-transports -->\n).*?(<!-- /generated:v2-transports -->)", re.S)
TRANSPORTS = ("grpc", "http-binary", "http-json")
BATCHES = (1, 64)
CONCURRENCY = (1, 32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(http_port: int, grpc_port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DIGITS_ACCESS_LOG": "false"}
    args = ["--host", "127.0.0.1", "--port", str(http_port), "--grpc-port", str(grpc_port), "--workers", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "service", *args], cwd=REPO, env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not become ready within 60 s")


def make_call(transport: str, batch: np.ndarray, http: str, grpc: str) -> tuple[Any, Any]:
    """(client, coroutine factory) for one inference request of ``batch`` over ``transport``."""
    if transport == "grpc":
        import tritonclient.grpc.aio as triton_grpc

        client = triton_grpc.InferenceServerClient(grpc)
        tensor = triton_grpc.InferInput("image", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        outputs = [triton_grpc.InferRequestedOutput("probabilities")]
    else:
        import tritonclient.http.aio as triton_http

        binary = transport == "http-binary"
        client = triton_http.InferenceServerClient(http, conn_limit=64)
        tensor = triton_http.InferInput("image", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch, binary_data=binary)
        outputs = [triton_http.InferRequestedOutput("probabilities", binary_data=binary)]

    async def call() -> None:
        result = await client.infer("digits", [tensor], outputs=outputs)
        if result.as_numpy("probabilities").shape != (len(batch), 10):
            raise RuntimeError("wrong output shape")

    return client, call


async def run_cell(call: Any, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = 0.0
    measuring = False

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += measuring
                continue
            if measuring:
                latencies.append(time.perf_counter() - started)

    stop_at = time.perf_counter() + warmup
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    measuring = True
    begin = time.perf_counter()
    stop_at = begin + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begin
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


async def measure(args: argparse.Namespace, http: str, grpc: str) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    cells = []
    for batch_size in BATCHES:
        batch = rng.random((batch_size, 1, 28, 28), dtype=np.float32)
        for concurrency in CONCURRENCY:
            for transport in TRANSPORTS:
                client, call = make_call(transport, batch, http, grpc)
                try:
                    figures = await run_cell(call, concurrency, args.seconds, args.warmup)
                finally:
                    await client.close()
                figures["images_per_s"] = round(figures["requests_per_s"] * batch_size, 1)
                cell = {"transport": transport, "batch": batch_size, "concurrency": concurrency, **figures}
                print(json.dumps(cell), flush=True)
                cells.append(cell)
    return cells


def report(path: Path) -> str:
    data = json.loads(path.read_text())
    lines = [
        f"Run {data['started']} on {data['machine']['cpus']} CPUs ({data['machine']['python']}), "
        f"{data['settings']['seconds']} s per cell after a {data['settings']['warmup']} s warm-up; "
        f"load average at the end {', '.join(f'{x:.1f}' for x in data['machine']['load'])} "
        "(the machine is shared):",
        "",
        "| batch | c | transport | requests/s | images/s | p50 ms | p99 ms | errors |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for cell in data["cells"]:
        lines.append(
            f"| {cell['batch']} | {cell['concurrency']} | {cell['transport']} "
            f"| {cell['requests_per_s']:,.0f} | {cell['images_per_s']:,.0f} "
            f"| {cell['p50_ms']} | {cell['p99_ms']} | {cell['errors']} |"
        )
    lines.append(f"\nSource: `{path.relative_to(REPO)}`.")
    return "\n".join(lines)


def write_report(path: Path) -> None:
    """Print the table and put it between the markers in docs/benchmarks.md."""
    table = report(path)
    print(table)
    text = DOC.read_text()
    if BLOCK.search(text):
        DOC.write_text(BLOCK.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text))
        print(f"updated {DOC.relative_to(REPO)}")


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--seconds", type=float, default=3.0, help="load per cell (default 3)")
    cli.add_argument("--warmup", type=float, default=1.0, help="warm-up per cell (default 1)")
    cli.add_argument("--report", action="store_true", help="print the table of the latest results")
    args = cli.parse_args()
    if args.report:
        write_report(LATEST)
        return
    http_port, grpc_port = free_port(), free_port()
    server = start_server(http_port, grpc_port)
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        cells = asyncio.run(measure(args, f"127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}"))
    finally:
        server.terminate()
        server.wait(30)
    data = {
        "started": started,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "settings": {"seconds": args.seconds, "warmup": args.warmup, "server_workers": 1},
        "cells": cells,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = started.replace("-", "").replace(":", "")
    for path in (RESULTS / f"v2-transports-{stamp}.json", LATEST):
        path.write_text(json.dumps(data, indent=2) + "\n")
    write_report(LATEST)


if __name__ == "__main__":
    main()
