"""Serving benchmark: the service beside its peers, in one interleaved run on this machine.

Starts every selected server (each on its own loopback port), measures its cold start (process start
to its readiness route answering 200), then for each round, payload and concurrency runs wrk against
each server in turn (the order rotates every round, so no server always goes first or last). Per run:
throughput, latency percentiles (wrk, closed loop), non-2xx count, server CPU (all processes of the
server's tree, from /proc) per request and in cores, server memory (peak RSS and PSS of the tree) and
the CPU that the rest of the machine used meanwhile (other helpers' jobs: noise). Raw results go to
bench/results/serve-<time>.json (and serve-latest.json); ``bench/report.py`` turns them into tables
and plots. Every server it starts is stopped at the end, also on errors or Ctrl-C.

    .venv/bin/python bench/serve_bench.py                      # the full comparison (~20 min)
    .venv/bin/python bench/serve_bench.py --quick              # 1 round, 3 s runs: a smoke test
    .venv/bin/python bench/serve_bench.py --servers service,service-w1 --payloads canvas --conc 32

Needs Debian's wrk and the peers' venv (bench/setup_peers.sh); load goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# --- config -------------------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
PY = str(REPO / ".venv" / "bin" / "python")
PEERS = Path(os.environ.get("PEERS_VENV", "/work/peers-venv"))
HOST = "127.0.0.1"  # loopback only, always
BASE_PORT = 18300
ROUNDS = 3
DURATION = 6  # seconds per wrk run
WARMUP = 2  # seconds per payload per server, once, before round 1
CONCURRENCY = (1, 8, 32, 64)
PAYLOADS = ("canvas", "pixels")
WRK_THREADS = 1  # one load-generator thread: it shares the 2 cores with the server
WRK_TIMEOUT = "10s"
READY_TIMEOUT = 60.0
COLD_TRIES = 3  # start-to-ready measurements per server (interleaved), before the load runs
GRANIAN_PKGS = os.environ.get("GRANIAN_PKGS", "/work/granian-pkgs")  # pip install --target (experiment)
LUA = BENCH / "wrk" / "post_file.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Server:
    """How to start one server and which routes take each payload."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready: str = "/readyz"
    canvas: str = "/predict"
    pixels: str = "/predict"
    health: str = "/healthz"
    cwd: Path = REPO
    note: str = ""


def servers(port: int) -> dict[str, Server]:
    """Every server this script knows; ``--servers`` picks some. Ports are assigned in order."""
    peer_py = str(PEERS / "bin" / "python")
    service = [PY, "-m", "service", "--host", HOST]
    fastapi = [
        peer_py,
        "-m",
        "uvicorn",
        "fastapi_torch:app",
        "--app-dir",
        str(BENCH / "peers"),
        "--host",
        HOST,
        "--workers",
        "2",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    table = [
        Server("service", service, note="python -m service, defaults"),
        Server("service-w1", service, {"DIGITS_WORKERS": "1"}, note="1 worker"),
        Server("service-w2", service, {"DIGITS_WORKERS": "2"}, note="2 workers"),
        Server("service-w3", service, {"DIGITS_WORKERS": "3"}, note="3 workers"),
        Server("service-w4", service, {"DIGITS_WORKERS": "4"}, note="4 workers"),
        Server(
            "service-it1", service, {"DIGITS_INFERENCE_THREADS": "1"}, note="1 inference thread per worker"
        ),
        Server(
            "service-it2", service, {"DIGITS_INFERENCE_THREADS": "2"}, note="2 inference threads per worker"
        ),
        Server("service-nolog", service, {"DIGITS_ACCESS_LOG": "false"}, note="access log off"),
        Server(
            "service-granian",
            [
                PY,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--factory",
                "granian_app:app",
                "--working-dir",
                str(BENCH),
                "--workers",
                "2",
                "--no-ws",
                "--log-level",
                "warning",
                "--host",
                HOST,
            ],
            {"PYTHONPATH": GRANIAN_PKGS, "DIGITS_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": "@tmpdir"},
            note="the service's app under Granian (ASGI), 2 workers",
        ),
        Server(
            "bentoml",
            [
                peer_py,
                "-m",
                "bentoml",
                "serve",
                "bentoml_service:Digits",
                "--working-dir",
                str(BENCH / "peers"),
                "--host",
                HOST,
            ],
            {"BENCH_WORKERS": "2"},
            pixels="/predict_pixels",
            note="BentoML, 2 workers, same ONNX model and preprocessing",
        ),
        Server(
            "fastapi-torch-1t",
            fastapi,
            {"BENCH_TORCH_THREADS": "1"},
            ready="/healthz",
            pixels="/predict_pixels",
            note="FastAPI + PyTorch eager, 2 workers, torch threads = 1",
        ),
        Server(
            "fastapi-torch",
            fastapi,
            {},
            ready="/healthz",
            pixels="/predict_pixels",
            note="FastAPI + PyTorch eager, 2 workers, torch threads = default",
        ),
        Server(
            "torchserve",
            ["bash", str(BENCH / "peers" / "torchserve_start.sh")],
            {"BENCH_WORKERS": "2", "BENCH_TORCH_THREADS": "1"},
            ready="/ping",
            canvas="/predictions/digits",
            pixels="/predictions/digits",
            health="/ping",
            note="TorchServe 0.12, 2 workers, PyTorch eager (torch threads = 1), same preprocessing",
        ),
    ]
    out = {}
    for i, server in enumerate(table):
        server.argv = [*server.argv, "--port", str(port + i)]
        out[server.name] = server
    return out


# --- /proc: the server's process tree ---------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) of the tree in MiB. PSS splits pages shared by forked workers fairly."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss / 1024, pss / 1024


def connections_per_process(pids: list[int], port: int) -> list[int]:
    """How many established connections to ``port`` each process holds (sorted, largest first):
    whether the workers share the clients evenly."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "01" and fields[1].endswith(f":{port:04X}"):
                inodes.add(fields[9])
    counts = []
    for pid in pids:
        held = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                held += target.startswith("socket:[") and target[8:-1] in inodes
        except OSError:
            continue
        if held:
            counts.append(held)
    return sorted(counts, reverse=True)


def machine_busy_seconds() -> float:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


# --- running --------------------------------------------------------------------------------------------


class Running:
    """A started server: its process group, port and cold start time."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.port = int(server.argv[server.argv.index("--port") + 1])
        env = {**os.environ, **server.env}
        self.tmpdir = None
        if env.get("PROMETHEUS_MULTIPROC_DIR") == "@tmpdir":
            self.tmpdir = tempfile.mkdtemp(prefix="bench-metrics-")
            env["PROMETHEUS_MULTIPROC_DIR"] = self.tmpdir
        env.pop("DIGITS_PORT", None)
        self.log = open(RESULTS / f"server-{server.name}.log", "w")  # noqa: SIM115
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            server.argv,
            cwd=server.cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.cold_start_s = self._wait_ready(started)
        except BaseException:
            self.stop()
            raise

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def _wait_ready(self, started: float) -> float:
        while time.perf_counter() - started < READY_TIMEOUT:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"{self.server.name} exited with {code}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url(self.server.ready), timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{self.server.name} not ready after {READY_TIMEOUT} s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this script created for it
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def wrk_args(running: Running, payload: str, files: dict[str, Path]) -> tuple[str, list[str]]:
    server = running.server
    if payload == "canvas":
        return running.url(server.canvas), ["multipart", str(files["canvas"]), "image", "image/png"]
    if payload == "pixels":
        return running.url(server.pixels), ["json", str(files["pixels"])]
    if payload == "healthz":
        return running.url(server.health), ["get"]
    raise ValueError(payload)


def run_wrk(running: Running, payload: str, conc: int, seconds: float, files: dict[str, Path]) -> dict:
    """One bounded wrk run with the server tree's CPU and memory sampled around and during it."""
    url, script_args = wrk_args(running, payload, files)
    argv = [
        "wrk",
        f"-t{min(WRK_THREADS, conc)}",
        f"-c{conc}",
        f"-d{seconds}s",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(LUA),
        url,
        "--",
        *script_args,
    ]
    pids = tree(running.proc.pid)
    peak = [0.0, 0.0]
    stop = threading.Event()

    split: list[int] = []

    def sample() -> None:
        ticks = 0
        while not stop.wait(0.25):
            ticks += 1
            members = tree(running.proc.pid)
            rss, pss = memory_mib(members)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            if ticks == 4 and not split:  # 1 s in: every connection is open
                split.extend(connections_per_process(members, running.port))

    sampler = threading.Thread(target=sample, daemon=True)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before, busy_before, t0 = cpu_seconds(pids), machine_busy_seconds(), time.perf_counter()
    sampler.start()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    elapsed = time.perf_counter() - t0
    stop.set()
    sampler.join()
    pids = tree(running.proc.pid)
    server_cpu = cpu_seconds(pids) - cpu_before
    busy = machine_busy_seconds() - busy_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("WRKJSON ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    result = json.loads(lines[-1][len("WRKJSON ") :])
    duration = result["duration_us"] / 1e6
    requests = result["requests"]
    errors = result["errors"]
    ok = max(requests - errors["status"], 0)
    result.update(
        server=running.server.name,
        payload=payload,
        concurrency=conc,
        rps=ok / duration,
        non_2xx=errors["status"],
        server_cpu_s=server_cpu,
        server_cores=server_cpu / duration,
        server_cpu_ms_per_req=1000 * server_cpu / requests if requests else None,
        wrk_cpu_s=wrk_cpu,
        others_cores=max(busy - server_cpu - wrk_cpu, 0.0) / elapsed,
        peak_rss_mib=peak[0],
        peak_pss_mib=peak[1],
        processes=len(pids),
        connections_per_process=split,
    )
    return result


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "kernel": platform.release(), "cpus": str(os.cpu_count())}
    for name in ("litestar", "uvicorn", "onnxruntime", "numpy", "pillow", "granian", "msgspec", "orjson"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[name] = md.version(name)
    peers = subprocess.run(
        [
            str(PEERS / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(*(f'{n}={m.version(n)}' for n in "
            "('bentoml','fastapi','uvicorn','torch','onnxruntime','torchserve')))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    for pair in peers.stdout.split():
        name, version = pair.split("=", 1)
        out[f"peers:{name}"] = version
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    out["wrk"] = (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "?"
    with open("/proc/cpuinfo") as f:
        out["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--servers", default="service,service-shared,bentoml,fastapi-torch-1t,fastapi-torch,torchserve"
    )
    parser.add_argument("--payloads", default=",".join(PAYLOADS), help="canvas, pixels, healthz")
    parser.add_argument("--conc", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--duration", type=float, default=DURATION)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s runs")
    parser.add_argument("--cold", type=int, default=COLD_TRIES, help="cold-start tries per server")
    parser.add_argument("--tag", default="", help="name suffix of the results file")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 3
    duration = int(args.duration)
    known = servers(BASE_PORT)
    names = args.servers.split(",")
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown servers {unknown}; choose from {', '.join(known)}")
    payloads = args.payloads.split(",")
    concs = [int(c) for c in args.conc.split(",")]

    sys.path.insert(0, str(BENCH))
    import payloads as bodies

    RESULTS.mkdir(parents=True, exist_ok=True)
    files = bodies.write(RESULTS / "payloads")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict = {
        "started": stamp,
        "load_avg_at_start": os.getloadavg(),
        "config": {
            "rounds": args.rounds,
            "duration_s": duration,
            "concurrency": concs,
            "payloads": payloads,
            "wrk_threads": WRK_THREADS,
            "servers": {n: known[n].note for n in names},
        },
        "versions": versions(),
        "cold_start_s": {},
        "runs": [],
    }
    running: dict[str, Running] = {}
    try:
        for _ in range(args.cold):  # start, ready, stop; servers interleaved
            for name in names:
                item = Running(known[name])
                item.stop()
                report["cold_start_s"].setdefault(name, []).append(item.cold_start_s)
        for name in names:  # then start each for the load runs (one more cold start each)
            running[name] = Running(known[name])
            report["cold_start_s"].setdefault(name, []).append(running[name].cold_start_s)
            tries = ", ".join(f"{t:.2f}" for t in report["cold_start_s"][name])
            print(f"{name}: cold start to ready (s): {tries}", flush=True)
            for payload in payloads:
                run_wrk(running[name], payload, 8, WARMUP, files)
        for round_ in range(args.rounds):
            for payload in payloads:
                for conc in concs:
                    shift = round_ % len(names)
                    for name in names[shift:] + names[:shift]:
                        result = run_wrk(running[name], payload, conc, duration, files)
                        result["round"] = round_
                        report["runs"].append(result)
                        lat = result["latency_us"]
                        print(
                            f"r{round_} {payload:7s} c={conc:<3d} {name:18s} {result['rps']:8.0f} req/s  "
                            f"p50 {lat['p50'] / 1000:7.2f} ms  p99 {lat['p99'] / 1000:7.2f} ms  "
                            f"cpu {result['server_cpu_ms_per_req'] or 0:5.2f} ms/req  "
                            f"pss {result['peak_pss_mib']:6.0f} MiB  non2xx {result['non_2xx']}  "
                            f"others {result['others_cores']:.2f} cores  "
                            f"conns {result['connections_per_process']}",
                            flush=True,
                        )
    finally:
        for item in running.values():
            item.stop()
        report["finished"] = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        report["load_avg_at_end"] = os.getloadavg()
        suffix = f"-{args.tag}" if args.tag else ""
        path = RESULTS / f"serve-{stamp}{suffix}.json"
        path.write_text(json.dumps(report, indent=1))
        (RESULTS / f"serve-latest{suffix}.json").write_text(json.dumps(report, indent=1))
        print(f"results: {path}")


if __name__ == "__main__":
    main()
