"""Turn the raw benchmark JSON into the tables and plots of docs/benchmarks.md.

Reads bench/results/serve-latest.json (or the file given), bench/results/floor-latest.json, and writes
docs/img/serve_*.png plus the generated tables between the ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->`` markers of docs/benchmarks.md (the prose around them is hand-written).
Medians over rounds; ratios are taken per round (the runs of one round are interleaved, so they saw
the same machine) and then the median of those ratios.

    .venv/bin/python bench/report.py [bench/results/serve-<time>.json]
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
IMG = REPO / "docs" / "img"
DOC = REPO / "docs" / "benchmarks.md"
OURS = "service"
PEER = "bentoml"
COLOURS = {
    "service": "#1f77b4",
    "bentoml": "#d62728",
    "fastapi-torch-1t": "#2ca02c",
    "fastapi-torch": "#9467bd",
    "torchserve": "#ff7f0e",
}
EXTRA_COLOURS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def colour(server: str, servers: list[str]) -> str:
    if server in COLOURS:
        return COLOURS[server]
    others = [s for s in servers if s not in COLOURS]
    return EXTRA_COLOURS[others.index(server) % len(EXTRA_COLOURS)]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def grouped(runs: list[dict]) -> dict[tuple[str, str, int], list[dict]]:
    groups: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
    for run in runs:
        groups[(run["server"], run["payload"], run["concurrency"])].append(run)
    return groups


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(report: dict) -> dict[tuple[str, str, int], dict]:
    out = {}
    for key, runs in grouped(report["runs"]).items():
        out[key] = {
            "rps": med([r["rps"] for r in runs]),
            "rps_min": min(r["rps"] for r in runs),
            "rps_max": max(r["rps"] for r in runs),
            "p50": med([r["latency_us"]["p50"] / 1000 for r in runs]),
            "p99": med([r["latency_us"]["p99"] / 1000 for r in runs]),
            "cpu": med([r["server_cpu_ms_per_req"] or 0 for r in runs]),
            "cores": med([r["server_cores"] for r in runs]),
            "pss": max(r["peak_pss_mib"] for r in runs),
            "rss": max(r["peak_rss_mib"] for r in runs),
            "non2xx": sum(r["non_2xx"] + r["errors"]["timeout"] for r in runs),
            "others": med([r["others_cores"] for r in runs]),
            "splits": ["/".join(map(str, r.get("connections_per_process") or [])) or "-" for r in runs],
            "n": len(runs),
        }
    return out


def paired_ratio(report: dict, payload: str, conc: int, a: str, b: str, field: str = "rps") -> float | None:
    """Median over rounds of a/b for one payload and concurrency (same-round runs are paired)."""
    by_round: dict[int, dict[str, float]] = defaultdict(dict)
    for run in report["runs"]:
        if run["payload"] == payload and run["concurrency"] == conc and run["server"] in (a, b):
            by_round[run["round"]][run["server"]] = run[field]
    ratios = [v[a] / v[b] for v in by_round.values() if a in v and b in v and v[b] > 0]
    return statistics.median(ratios) if ratios else None


def table(report: dict, stats: dict) -> str:
    servers = list(report["config"]["servers"])
    lines = [
        "| payload | c | server | req/s (median, min-max) | p50 ms | p99 ms | server CPU ms/req | "
        "server cores | peak PSS MiB | errors | connections per process, each round | others' cores |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for payload in report["config"]["payloads"]:
        for conc in report["config"]["concurrency"]:
            for server in servers:
                s = stats.get((server, payload, conc))
                if s is None:
                    continue
                lines.append(
                    f"| {payload} | {conc} | {server} "
                    f"| {s['rps']:,.0f} ({s['rps_min']:,.0f}-{s['rps_max']:,.0f}) "
                    f"| {s['p50']:.2f} | {s['p99']:.2f} | {s['cpu']:.2f} | {s['cores']:.2f} | {s['pss']:.0f} "
                    f"| {s['non2xx']} | {', '.join(s['splits'])} | {s['others']:.2f} |"
                )
    return "\n".join(lines)


def ratios(report: dict) -> str:
    servers = [s for s in report["config"]["servers"] if s != OURS]
    if OURS not in report["config"]["servers"]:
        return "(the service was not in this run)"
    lines = [
        f"| payload | c | {' | '.join(f'{OURS} / {s}' for s in servers)} |",
        f"|---|---:|{'---:|' * len(servers)}",
    ]
    for payload in report["config"]["payloads"]:
        for conc in report["config"]["concurrency"]:
            cells = []
            for server in servers:
                ratio = paired_ratio(report, payload, conc, OURS, server)
                cells.append(f"{ratio:.2f}x" if ratio else "-")
            lines.append(f"| {payload} | {conc} | {' | '.join(cells)} |")
    return "\n".join(lines)


def cold_starts(report: dict) -> str:
    rows = ["| server | cold start s (process start to ready 200), each try | median |", "|---|---|---:|"]
    for server, value in report["cold_start_s"].items():
        tries = value if isinstance(value, list) else [value]
        rows.append(f"| {server} | {', '.join(f'{t:.2f}' for t in tries)} | {med(tries):.2f} |")
    return "\n".join(rows)


def plot_serving(report: dict, stats: dict) -> list[Path]:
    IMG.mkdir(parents=True, exist_ok=True)
    servers = list(report["config"]["servers"])
    payloads = [p for p in report["config"]["payloads"] if p != "healthz"]
    concs = report["config"]["concurrency"]
    paths = []

    fig, axes = plt.subplots(1, len(payloads), figsize=(5.5 * len(payloads), 4), squeeze=False)
    for ax, payload in zip(axes[0], payloads, strict=True):
        for server in servers:
            points = [(c, stats[(server, payload, c)]) for c in concs if (server, payload, c) in stats]
            if not points:
                continue
            xs = [c for c, _ in points]
            ys = [s["rps"] for _, s in points]
            err = [[s["rps"] - s["rps_min"] for _, s in points], [s["rps_max"] - s["rps"] for _, s in points]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=server, color=colour(server, servers))
        ax.set_xscale("log", base=2)
        ax.set_xticks(concs, [str(c) for c in concs])
        ax.set_title(f"/predict {payload}: throughput")
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel("requests/s (median, min-max of rounds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(IMG / "serve_throughput.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(payloads), figsize=(5.5 * len(payloads), 4), squeeze=False)
    for ax, payload in zip(axes[0], payloads, strict=True):
        for server in servers:
            points = [(c, stats[(server, payload, c)]) for c in concs if (server, payload, c) in stats]
            if not points:
                continue
            line_colour = colour(server, servers)
            ax.plot(
                [c for c, _ in points],
                [s["p50"] for _, s in points],
                "o-",
                color=line_colour,
                label=f"{server} p50",
            )
            ax.plot(
                [c for c, _ in points],
                [s["p99"] for _, s in points],
                "s--",
                color=line_colour,
                label=f"{server} p99",
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(concs, [str(c) for c in concs])
        ax.set_title(f"/predict {payload}: latency")
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel("ms (median of rounds)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    paths.append(IMG / "serve_latency.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    conc = 32 if 32 in concs else concs[-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(len(payloads), 1)
    for i, payload in enumerate(payloads):
        xs = [j + i * width for j in range(len(servers))]
        cpu = [stats.get((s, payload, conc), {}).get("cpu", 0) for s in servers]
        pss = [stats.get((s, payload, conc), {}).get("pss", 0) for s in servers]
        axes[0].bar(xs, cpu, width, label=payload)
        axes[1].bar(xs, pss, width, label=payload)
    axes[0].set_yscale("log")
    for ax, title in zip(
        axes, (f"server CPU per request at c={conc} (ms, log scale)", "server peak PSS (MiB)"), strict=True
    ):
        ticks = [j + width * (len(payloads) - 1) / 2 for j in range(len(servers))]
        ax.set_xticks(ticks, servers, fontsize=8, rotation=20)
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(IMG / "serve_cpu_memory.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def floor_table(floor: dict) -> str:
    lines = [
        "| step (in-process, one caller thread) | CPU us per call | wall us per call |",
        "|---|---:|---:|",
    ]
    for row in floor["rows_us"]:
        lines.append(f"| {row['step'].strip()} | {row['cpu_us']:,.1f} | {row['wall_us']:,.1f} |")
    return "\n".join(lines)


def fitline_blocks(fit: dict | None, served: dict | None) -> tuple[dict[str, str], list[Path]]:
    """Tables and a plot from bench/fitline_bench.py (in-process) and bench/fitline_serve.py (HTTP)."""
    blocks: dict[str, str] = {}
    paths: list[Path] = []
    if fit:
        rows = [r for r in fit["rows"] if r["case"].startswith("n=")]
        lines = [
            "| n | method | wall s | CPU s | peak MiB (input MiB) | rel. error vs closed form | note |",
            "|---:|---|---:|---:|---:|---:|---|",
        ]
        for r in fit["rows"]:
            lines.append(
                f"| {r['case']} | {r['method']} | {r['wall_s']:.4f} | {r['cpu_s']:.4f} | "
                f"{r['peak_mib']:.2f} ({r['input_mib']:.2f}) | {r['rel_error']:.1e} | {r.get('note', '')} |"
            )
        blocks["fitline-table"] = "\n".join(lines)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["n"])
            axes[0].plot([r["n"] for r in mine], [r["cpu_s"] for r in mine], "o-", label=method)
            axes[1].plot([r["n"] for r in mine], [r["peak_mib"] for r in mine], "o-", label=method)
        for ax, title in zip(axes, ("CPU seconds per fit", "peak memory (MiB, tracemalloc)"), strict=True):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("points")
            ax.set_title(title)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(IMG / "fitline.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    if served:
        lines = [
            "| n | body MiB | HTTP | client wall s | server-logged s | server CPU s | peak RSS +MiB | fit |",
            "|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in served["rows"]:
            logged = f"{r['server_latency_s']:.3f}" if r.get("server_latency_s") is not None else "-"
            lines.append(
                f"| {r['n']:,} | {r['body_mib']:.1f} | {r['status']} | {r['wall_s']:.3f} | {logged} | "
                f"{r['server_cpu_s']:.2f} | {r['peak_rss_above_idle_mib']:.0f} | "
                f"{r['fit_status']}, {r['epochs_run']} epochs |"
            )
        default = served.get("default_limit_1e6") or {}
        lines.append("")
        lines.append(
            f"With the default body limit, {default.get('n', 0):,} points: "
            f"HTTP {default.get('status') or '-'} "
            f"({default.get('detail', '')}). Run at load average {served['load_avg'][0]:.1f}; "
            f"server CPU is counted in 10 ms ticks."
        )
        blocks["fitline-serve-table"] = "\n".join(lines)
    return blocks, paths


def targets(report: dict, stats: dict, served: dict | None) -> str:
    """Issue 8's targets against this run's medians (the service = ``OURS`` with its defaults)."""
    rows = ["| target | measured | met |", "|---|---|:-:|"]

    def row(name: str, value: str, ok: bool | str | None) -> None:
        mark = ok if isinstance(ok, str) else ("yes" if ok else ("no" if ok is not None else "-"))
        rows.append(f"| {name} | {value} | {mark} |")

    canvas32 = stats.get((OURS, "canvas", 32))
    ratio = paired_ratio(report, "canvas", 32, OURS, PEER)
    if canvas32 and ratio:
        row(
            "canvas PNG, c=32: >= 3x BentoML's throughput (about 1,200 req/s)",
            f"{canvas32['rps']:,.0f} req/s = {ratio:.2f}x BentoML "
            f"({stats[(PEER, 'canvas', 32)]['rps']:,.0f}, median of per-round ratios)",
            ratio >= 3,
        )
    canvas8 = stats.get((OURS, "canvas", 8))
    if canvas8:
        row(
            "canvas PNG, c=8: p99 < 15 ms",
            f"p99 {canvas8['p99']:.1f} ms (p50 {canvas8['p50']:.1f})",
            canvas8["p99"] < 15,
        )
    if canvas32:
        spread = canvas32["p99"] / canvas32["p50"]
        row(
            "canvas PNG, c=32: p99 within 2x of p50",
            f"p50 {canvas32['p50']:.1f} ms, p99 {canvas32['p99']:.1f} ms ({spread:.1f}x)",
            spread <= 2,
        )
    pixels = [(c, s) for (server, payload, c), s in stats.items() if server == OURS and payload == "pixels"]
    if pixels:
        conc, best = max(pixels, key=lambda item: item[1]["rps"])
        row(
            "JSON pixels: >= 5,000 req/s",
            f"{best['rps']:,.0f} req/s (best, at c={conc})",
            best["rps"] >= 5000,
        )
    if served:
        big = [r for r in served["rows"] if r["n"] == 1_000_000]
        if big and big[0].get("server_latency_s") is not None:
            r = big[0]
            row(
                "/fit-line, 10^6 points on defaults: < 1 s server time",
                f"{r['server_latency_s']:.2f} s logged by the server ({r['server_cpu_s']:.2f} s CPU); "
                f"needs DIGITS_MAX_BODY_BYTES above the 10 MiB default (the body is {r['body_mib']:.1f} MiB)",
                "time: yes; body limit: no" if r["server_latency_s"] < 1 else False,
            )
    cold = report["cold_start_s"].get(OURS)
    if cold:
        tries = cold if isinstance(cold, list) else [cold]
        row(
            "cold start (process start to /readyz 200) < 2 s",
            f"median {med(tries):.2f} s of {len(tries)}",
            med(tries) < 2,
        )
    return "\n".join(rows)


def replace_generated(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.S)
    if not pattern.search(text):
        print(f"note: no <!-- generated:{name} --> block in {DOC.name}; printing instead\n{body}\n")
        return text
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main() -> None:
    serve_path = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else RESULTS / "serve-latest.json"
    report = load(serve_path)
    stats = summary(report)
    for path in plot_serving(report, stats):
        print(f"wrote {path.relative_to(REPO)}")
    blocks = {
        "serve-source": f"Source: `{serve_path.relative_to(REPO)}` (started {report['started']}, "
        f"{report['config']['rounds']} rounds x {report['config']['duration_s']} s per run).",
        "serve-table": table(report, stats),
        "serve-ratios": ratios(report),
        "cold-start": cold_starts(report),
    }
    healthz_path = RESULTS / "serve-latest-healthz.json"
    if healthz_path.exists():
        healthz = load(healthz_path)
        lines = [
            "| server | GET health route, c=32: req/s | p50 ms | p99 ms | server CPU ms/req |",
            "|---|---:|---:|---:|---:|",
        ]
        for (server, _, _), h in summary(healthz).items():
            lines.append(f"| {server} | {h['rps']:,.0f} | {h['p50']:.2f} | {h['p99']:.2f} | {h['cpu']:.3f} |")
        lines.append(f"\nSource: `{healthz_path.relative_to(REPO)}` ({healthz['config']['rounds']} rounds).")
        blocks["healthz-table"] = "\n".join(lines)
    decoders_path = RESULTS / "decoders-latest.json"
    if decoders_path.exists():
        decoders = load(decoders_path)
        lines = ["| decoder (canvas PNG, 5.8 KB -> 306 KB RGBA) | CPU us per call |", "|---|---:|"]
        lines += [f"| {name} | {value:,.0f} |" for name, value in decoders["rows_us"].items()]
        blocks["decoders-table"] = "\n".join(lines)
    floor_path = RESULTS / "floor-latest.json"
    if floor_path.exists():
        blocks["floor-table"] = floor_table(load(floor_path))
    fit_path, served_path = RESULTS / "fitline-latest.json", RESULTS / "fitline-serve-latest.json"
    fit_blocks, fit_paths = fitline_blocks(
        load(fit_path) if fit_path.exists() else None, load(served_path) if served_path.exists() else None
    )
    blocks.update(fit_blocks)
    blocks["targets"] = targets(report, stats, load(served_path) if served_path.exists() else None)
    for path in fit_paths:
        print(f"wrote {path.relative_to(REPO)}")
    text = DOC.read_text() if DOC.exists() else ""
    for name, body in blocks.items():
        text = replace_generated(text, name, body)
    if text:
        DOC.write_text(text)
        print(f"updated {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
