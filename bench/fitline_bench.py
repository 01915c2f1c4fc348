"""/fit-line numerics: time, peak memory and accuracy of the SGD line fit beside the usual peers.

For n = 10^2 .. 10^6 points (x uniform in 0..1000, y = 3x + 7 + noise), on the same data, in-process:
  - service.linefit.fit_line on defaults (what POST /fit-line runs),
  - numpy.linalg.lstsq on [x, 1] (the exact answer users would reach for),
  - scikit-learn SGDRegressor on defaults, on raw x (up to 10^5 points: it does not converge there and
    takes ~45 s CPU per run at 10^6) and after StandardScaler (if scikit-learn is installed:
    `.venv/bin/pip install -e '.[bench]'`),
and two worst cases inside the compute budget (points x epochs <= DEFAULT_MAX_WORK_UNITS).
Time is the median over REPEATS interleaved runs (wall and CPU seconds); peak memory is tracemalloc's
peak during one extra run (numpy reports its buffers to tracemalloc), beside the input size.
Accuracy is the relative error against service.linefit.closed_form, max over slope and intercept,
with the scales documented in service/linefit.py: |a - a*| / max(|a*|, std y / std x) and
|c - c*| / max(|c*|, std y).

    .venv/bin/python bench/fitline_bench.py      # prints a table, writes bench/results/fitline-latest.json
    .venv/bin/python bench/fitline_bench.py --max-n 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service import linefit  # noqa: E402

RESULTS = REPO / "bench" / "results"
SEED = 0
RAW_SGD_MAX_N = 10**5

try:
    import sklearn
    from sklearn.linear_model import SGDRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError:  # a peer, not a dependency
    sklearn = None


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    x = rng.uniform(0.0, 1000.0, n)
    return x, 3.0 * x + 7.0 + 50.0 * rng.standard_normal(n)


# Each method returns (slope, intercept, note).
def run_linefit(x, y, options=None):
    r = linefit.fit_line(x, y, options)
    return r.slope, r.intercept, f"{r.status}, {r.epochs_run} epochs"


def run_lstsq(x, y):
    coef = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)[0]
    return float(coef[0]), float(coef[1]), ""


def run_sgdregressor(x, y):
    model = SGDRegressor(random_state=SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x[:, None], y)
    note = f"{model.n_iter_} epochs" + (f"; warned: {caught[0].category.__name__}" if caught else "")
    return float(model.coef_[0]), float(model.intercept_[0]), note


def run_scaled_sgdregressor(x, y):
    pipe = make_pipeline(StandardScaler(), SGDRegressor(random_state=SEED))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.fit(x[:, None], y)
    scaler, model = pipe[0], pipe[1]
    slope = float(model.coef_[0] / scaler.scale_[0])
    intercept = float(model.intercept_[0] - slope * scaler.mean_[0])
    note = f"{model.n_iter_} epochs" + (f"; warned: {caught[0].category.__name__}" if caught else "")
    return slope, intercept, note


def rel_error(slope, intercept, x, y, ref) -> float:
    if not (np.isfinite(slope) and np.isfinite(intercept)):
        return float("inf")
    sx, sy = float(np.std(x)), float(np.std(y))
    e_slope = abs(slope - ref.slope) / max(abs(ref.slope), sy / sx)
    e_intercept = abs(intercept - ref.intercept) / max(abs(ref.intercept), sy)
    return max(e_slope, e_intercept)


def measure(fn: Callable, x, y, repeats: int) -> dict:
    return {"fn": fn, "x": x, "y": y, "wall": [], "cpu": [], "repeats": repeats}


def time_once(m: dict) -> tuple:
    t, c = time.perf_counter(), time.process_time()
    out = m["fn"](m["x"], m["y"])
    m["wall"].append(time.perf_counter() - t)
    m["cpu"].append(time.process_time() - c)
    return out


def peak_bytes(fn: Callable, x, y) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn(x, y)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=10**6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-worst-case", action="store_true", help="skip the budget worst cases")
    parser.add_argument("--out", type=Path, default=RESULTS / "fitline-latest.json")
    args = parser.parse_args()

    methods: dict[str, Callable] = {"linefit (defaults)": run_linefit, "numpy lstsq": run_lstsq}
    if sklearn is not None:
        methods["SGDRegressor (raw x)"] = run_sgdregressor
        methods["Scaler+SGDRegressor"] = run_scaled_sgdregressor
    cases = []
    for k in range(2, 7):
        if 10**k <= args.max_n:
            # SGDRegressor on raw x runs all its epochs without converging: ~45 s CPU per run at 10^6.
            skip = {"SGDRegressor (raw x)"} if 10**k > RAW_SGD_MAX_N else set()
            cases.append((f"n=10^{k}", 10**k, {k_: v for k_, v in methods.items() if k_ not in skip}))
    if not args.no_worst_case:
        # Inside the budget but as costly as allowed: batch 1 means the most scalar SGD steps.
        n_big = min(10**6, args.max_n)
        worst_epochs = min(linefit.MAX_EPOCHS, linefit.DEFAULT_MAX_WORK_UNITS // n_big)
        worst = linefit.FitOptions(batch_size=1, learning_rate=0.001, epochs=worst_epochs)
        cases.append(
            (
                f"budget n={n_big:.0e} bs=1 lr=0.001 e={worst_epochs}",
                n_big,
                {"linefit (worst in budget)": lambda x, y, o=worst: run_linefit(x, y, o)},
            )
        )

    rows = []
    for label, n, meths in cases:
        x, y = make_data(n)
        ref = linefit.closed_form(x, y)
        reps = args.repeats if n < 10**6 else max(3, args.repeats // 2)
        ms = {name: measure(fn, x, y, reps) for name, fn in meths.items()}
        outputs = {}
        for _ in range(reps):  # interleaved, so machine noise hits every method alike
            for name, m in ms.items():
                outputs[name] = time_once(m)
        for name, m in ms.items():
            slope, intercept, note = outputs[name]
            rows.append(
                {
                    "case": label,
                    "n": n,
                    "method": name,
                    "wall_s": statistics.median(m["wall"]),
                    "cpu_s": statistics.median(m["cpu"]),
                    "peak_mib": peak_bytes(m["fn"], x, y) / 2**20,
                    "input_mib": (x.nbytes + y.nbytes) / 2**20,
                    "rel_error": rel_error(slope, intercept, x, y, ref),
                    "note": note,
                    "repeats": reps,
                }
            )
            r = rows[-1]
            print(
                f"{label:>34} {name:<26} {r['wall_s'] * 1e3:9.1f} ms {r['cpu_s'] * 1e3:9.1f} ms"
                f" {r['peak_mib']:8.1f} MiB {r['rel_error']:9.1e}  {note}",
                flush=True,
            )

    header = f"{'case':>34} {'method':<26} {'wall(med)':>12} {'cpu(med)':>12} {'peak mem':>12} {'rel err':>9}"
    print("\n" + header + "  note\n" + "-" * (len(header) + 30))
    for r in rows:
        print(
            f"{r['case']:>34} {r['method']:<26} {r['wall_s'] * 1e3:9.1f} ms {r['cpu_s'] * 1e3:9.1f} ms"
            f" {r['peak_mib']:8.1f} MiB {r['rel_error']:9.1e}  {r['note']}"
        )
    print(
        "\nrel err: max over slope and intercept of |a - a*| / max(|a*|, scale) against the closed form;"
        " peak mem: tracemalloc peak during one call (input arrays excluded; input is 16 B/point)."
    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit_learn": getattr(sklearn, "__version__", None),
        "machine": platform.machine(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "defaults": {
            "learning_rate": linefit.DEFAULT_LEARNING_RATE,
            "epochs": linefit.DEFAULT_EPOCHS,
            "batch_size": linefit.DEFAULT_BATCH_SIZE,
            "max_work_units": linefit.DEFAULT_MAX_WORK_UNITS,
        },
    }
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str) + "\n")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()
