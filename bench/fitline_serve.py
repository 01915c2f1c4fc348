"""/fit-line over HTTP: what a client waits for, and what the server spends, from 10^2 to 10^6 points.

bench/fitline_bench.py (the line-fit owner's) times ``service.linefit`` in-process beside numpy lstsq
and scikit-learn. This one adds the rest of a request: the JSON body (about 17 bytes per point),
parsing and validation, the fit, the response. It starts ``python -m service`` (one worker) on a
loopback port, POSTs ``{"x": [...], "y": [...]}`` on defaults REPEATS times per size and reports the
median wall time seen by the client, the server's CPU seconds per request (its process tree, /proc),
and its peak RSS above the idle baseline (sampled every 10 ms). The server's body limit is raised for
the run (DIGITS_MAX_BODY_BYTES, printed); the default limit's answer for 10^6 points is checked too.
"Server time" is the latency the service logs itself (access log: request start to last byte sent).

    .venv/bin/python bench/fitline_serve.py          # writes bench/results/fitline-serve-latest.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_bench import HOST, PY, REPO, RESULTS, Running, Server, cpu_seconds, memory_mib, tree

PORT = 18390
SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)
REPEATS = 3
BODY_LIMIT = 64 * 1024 * 1024


def body(n: int, seed: int = 0) -> bytes:
    """x uniform in 0..1000, y = 3x + 7 + noise, 3 decimals: about 17 bytes per point as JSON."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(0, 1000, n), 3)
    y = np.round(3 * x + 7 + rng.normal(0, 10, n), 3)
    return json.dumps({"x": x.tolist(), "y": y.tolist()}, separators=(",", ":")).encode()


def post(url: str, data: bytes) -> tuple[int, dict, float]:
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
            status = response.status
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read() or b"{}")
        status = error.code
    except (urllib.error.URLError, ConnectionError) as error:  # the server refused the body mid-upload
        answer, status = {"detail": f"connection closed while sending: {getattr(error, 'reason', error)}"}, 0
    return status, answer, time.perf_counter() - start


def post_expect_continue(url: str, data: bytes) -> tuple[int, dict]:
    """POST with ``Expect: 100-continue`` (curl does it for big bodies): a server refusing the body can
    answer before the upload. urllib cannot, and sees the connection reset instead."""
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(data)
        file.flush()
        out = subprocess.run(
            ["curl", "-s", "-w", "\n%{http_code}", "-H", "content-type: application/json",
             "--data-binary", f"@{file.name}", url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    text, _, code = out.stdout.rpartition("\n")
    try:
        return int(code), json.loads(text or "{}")
    except ValueError:
        return 0, {"detail": out.stderr.strip() or out.stdout.strip()}


def measure(running: Running, n: int) -> dict:
    data = body(n)
    url = running.url("/fit-line")
    pids = tree(running.proc.pid)
    idle_rss = memory_mib(pids)[0]
    walls, cpus, peaks, answer, status = [], [], [], {}, 0
    for _ in range(REPEATS):
        peak = [0.0]
        stop = threading.Event()

        def sample(peak: list[float] = peak, stop: threading.Event = stop) -> None:
            while not stop.wait(0.01):
                peak[0] = max(peak[0], memory_mib(pids)[0])

        sampler = threading.Thread(target=sample, daemon=True)
        cpu0 = cpu_seconds(pids)
        sampler.start()
        status, answer, wall = post(url, data)
        stop.set()
        sampler.join()
        cpus.append(cpu_seconds(pids) - cpu0)
        walls.append(wall)
        peaks.append(max(peak[0], idle_rss) - idle_rss)
    row = {
        "n": n,
        "body_mib": len(data) / 2**20,
        "status": status,
        "wall_s": statistics.median(walls),
        "server_cpu_s": statistics.median(cpus),
        "peak_rss_above_idle_mib": max(peaks),
        "epochs_run": answer.get("epochs_run"),
        "fit_status": answer.get("status"),
        "slope": answer.get("slope"),
        "closed_form_slope": (answer.get("closed_form") or {}).get("slope"),
    }
    print(
        f"n={n:>9,d} body {row['body_mib']:6.1f} MiB  HTTP {status}  wall {row['wall_s']:.3f} s  "
        f"server CPU {row['server_cpu_s']:.3f} s  peak RSS +{row['peak_rss_above_idle_mib']:.0f} MiB  "
        f"{row['fit_status']} after {row['epochs_run']} epochs",
        flush=True,
    )
    return row


def main() -> None:
    argv = [PY, "-m", "service", "--host", HOST, "--port", str(PORT), "--workers", "1"]
    rows = []
    raised = Running(Server("service-fitline", argv, {"DIGITS_MAX_BODY_BYTES": str(BODY_LIMIT)}, cwd=REPO))
    try:
        print(f"server: python -m service, 1 worker, DIGITS_MAX_BODY_BYTES={BODY_LIMIT}")
        for n in SIZES:
            rows.append(measure(raised, n))
    finally:
        raised.stop()
    # The server's own latency (its access log: request start to last response byte), in request order.
    logged = [
        json.loads(line) for line in Path(raised.log.name).read_text().splitlines() if '"/fit-line"' in line
    ]
    latencies = [entry["latency_ms"] / 1000 for entry in logged if entry.get("path") == "/fit-line"]
    for i, row in enumerate(rows):
        mine = latencies[i * REPEATS : (i + 1) * REPEATS]
        row["server_latency_s"] = statistics.median(mine) if len(mine) == REPEATS else None
        print(f"n={row['n']:>9,d} server-logged latency {row['server_latency_s']} s")
    default = Running(Server("service-fitline-default", argv, {}, cwd=REPO))
    try:
        status, answer = post_expect_continue(default.url("/fit-line"), body(SIZES[-1]))
        default_limit = {"n": SIZES[-1], "status": status, "detail": answer.get("detail")}
        print(f"default body limit, n={SIZES[-1]:,}: HTTP {status or '-'} {answer.get('detail', '')}")
    finally:
        default.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_avg": os.getloadavg(),
        "body_limit_for_run": BODY_LIMIT,
        "repeats": REPEATS,
        "rows": rows,
        "default_limit_1e6": default_limit,
    }
    (RESULTS / "fitline-serve-latest.json").write_text(json.dumps(out, indent=1))
    print(f"results: {RESULTS / 'fitline-serve-latest.json'}")


if __name__ == "__main__":
    main()
