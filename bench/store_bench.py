"""/predict CPU per request with the sample store off, on SQLite and on PostgreSQL, in one run.

Starts three ``python -m service --workers 1`` side by side (store off; ``sqlite:///`` in a temp folder;
a throwaway PostgreSQL server from Debian's binaries, tests/store/postgres_server.py), then for each
round and payload sends the same requests to each server in turn (the order rotates every round), from
a few client threads over keep-alive. The server's CPU (utime + stime of its process, writer thread
included, from /proc) divided by the requests answered is the figure; latency is the client's view.
Writes bench/results/store-<time>.json and store-latest.json, prints a table. Stops everything it started.

    .venv/bin/python bench/store_bench.py                 # 5 rounds x 1000 requests per payload and server
    .venv/bin/python bench/store_bench.py --rounds 1 --requests 200   # a smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "store"))
from payloads import canvas_png, mnist_pixels  # noqa: E402
from postgres_server import TempPostgres  # noqa: E402

RESULTS = REPO / "bench" / "results"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def start(name: str, store_url: str, log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DIGITS_WORKERS": "1",
        "DIGITS_STORE_URL": store_url,
        "DIGITS_ACCESS_LOG": "false",
        "DIGITS_STORE_MAX_ROWS": "0",
        "DIGITS_STORE_MAX_AGE_DAYS": "0",
    }
    log = (log_dir / f"{name}.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "service", "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, cwd=REPO)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start: {(log_dir / f'{name}.log').read_text()}")
        time.sleep(0.1)


def run_requests(url: str, payload: str, count: int, threads: int) -> list[float]:
    png, pixels = canvas_png(), {"pixels": mnist_pixels()}

    def one(client: httpx.Client) -> float:
        started = time.perf_counter()
        if payload == "json":
            answer = client.post(f"{url}/predict", json=pixels)
        else:
            answer = client.post(f"{url}/predict", content=png, headers={"content-type": "image/png"})
        answer.raise_for_status()
        return time.perf_counter() - started

    clients = [httpx.Client(timeout=30) for _ in range(threads)]
    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda i: one(clients[i % threads]), range(count)))
    finally:
        for client in clients:
            client.close()


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--rounds", type=int, default=5)
    cli.add_argument("--requests", type=int, default=1000, help="per round, payload and server")
    cli.add_argument("--threads", type=int, default=4, help="client threads (concurrent requests)")
    cli.add_argument("--payloads", default="json,png")
    args = cli.parse_args()
    payloads = args.payloads.split(",")
    work = Path(tempfile.mkdtemp(prefix="store-bench-"))
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    with TempPostgres() as pg:
        try:
            for name, store_url in (
                ("off", ""),
                ("sqlite", f"sqlite:///{work / 'samples.db'}"),
                ("postgresql", pg.url),
            ):
                servers[name] = start(name, store_url, work)
            names = list(servers)
            for name in names:  # warm up: first requests compile, allocate, connect
                run_requests(servers[name][1], "json", 100, args.threads)
            for round_ in range(args.rounds):
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for payload in payloads:
                    for name in order:
                        process, url = servers[name]
                        before = cpu_seconds(process.pid)
                        latencies = run_requests(url, payload, args.requests, args.threads)
                        time.sleep(0.3)  # let the writer thread finish this run's rows (counted here)
                        cpu = cpu_seconds(process.pid) - before
                        samples.setdefault(name, {}).setdefault(payload, []).append({
                            "cpu_ms_per_request": 1000 * cpu / args.requests,
                            "p50_ms": 1000 * statistics.median(latencies),
                            "p99_ms": 1000 * sorted(latencies)[int(0.99 * len(latencies)) - 1],
                        })  # fmt: skip
            rows = {}
            for name in ("sqlite", "postgresql"):
                probe = httpx.get(f"{servers[name][1]}/metrics").text
                rows[name] = [line for line in probe.splitlines() if line.startswith("digits_store_")]
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)
    summary = {
        name: {
            payload: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            for payload, runs in by_payload.items()
        }
        for name, by_payload in samples.items()
    }
    result = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        "rounds": args.rounds,
        "requests_per_run": args.requests,
        "client_threads": args.threads,
        "median_of_rounds": summary,
        "runs": samples,
        "store_metrics_at_end": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS / f"store-{stamp}.json", RESULTS / "store-latest.json"):
        path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'store':<11} {'payload':<7} {'CPU ms/req':>10} {'vs off':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for payload in payloads:
        base = summary["off"][payload]["cpu_ms_per_request"]
        for name in ("off", "sqlite", "postgresql"):
            s = summary[name][payload]
            change = f"{100 * (s['cpu_ms_per_request'] / base - 1):+.1f}%"
            cpu, p50, p99 = s["cpu_ms_per_request"], s["p50_ms"], s["p99_ms"]
            print(f"{name:<11} {payload:<7} {cpu:>10.3f} {change:>7} {p50:>7.2f} {p99:>7.2f}")
    print(f"results: {RESULTS / 'store-latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
