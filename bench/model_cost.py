"""What the model itself costs: CPU time per image through onnxruntime, the shipped model against a
baseline (by default version 1, the single CNN, taken from git history), at batch 1 and batched.

CPU time (``time.thread_time``: onnxruntime runs a 1-thread session in the calling thread), not wall
time, so a busy shared machine changes the figures less. Each figure is the median over REPEATS rounds
of CALLS calls, all of the graph's outputs asked for, the service's session options.

    .venv/bin/python bench/model_cost.py      # prints a table, writes bench/results/model-cost-latest.json
    .venv/bin/python bench/model_cost.py --baseline old.onnx --model new.onnx
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contract import INPUT_NAME, to_model_input  # noqa: E402
from service.model import session_options  # noqa: E402
from service.settings import Settings  # noqa: E402

BASELINE_PATH = "models/digits/1/model.onnx"
REPEATS, CALLS, BATCH = 7, 200, 64
RESULT = REPO / "bench" / "results" / "model-cost-latest.json"


def baseline_from_git(folder: Path) -> Path:
    """models/digits/1/model.onnx as last committed (the file may be gone from the working tree)."""
    last = subprocess.run(
        ["git", "rev-list", "-1", "HEAD", "--", BASELINE_PATH],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for rev in (last, f"{last}^"):
        shown = subprocess.run(
            ["git", "show", f"{rev}:{BASELINE_PATH}"], cwd=REPO, capture_output=True, check=False
        )
        if shown.returncode == 0:
            path = folder / "baseline.onnx"
            path.write_bytes(shown.stdout)
            return path
    raise SystemExit(f"{BASELINE_PATH} is not in this checkout's git history; pass --baseline")


def cpu_per_image(path: Path, batch: int, pixels: np.ndarray) -> float:
    """Median CPU microseconds per image at ``batch`` images per call."""
    session = ort.InferenceSession(str(path), session_options(1, 1), providers=["CPUExecutionProvider"])
    feed = {INPUT_NAME: to_model_input(pixels[:batch])}
    calls = max(1, CALLS // batch) if batch > 1 else CALLS
    for _ in range(10):
        session.run(None, feed)
    rounds = []
    for _ in range(REPEATS):
        started = time.thread_time()
        for _ in range(calls):
            session.run(None, feed)
        rounds.append((time.thread_time() - started) / (calls * batch) * 1e6)
    return statistics.median(rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Settings().model_path, help="the model to measure")
    parser.add_argument(
        "--baseline", type=Path, help="the model to compare with (default: version 1 from git)"
    )
    args = parser.parse_args()
    from training.data import load  # bench may use the training data; the service never does

    pixels = load().test.images[:BATCH]
    with tempfile.TemporaryDirectory() as tmp:
        baseline = args.baseline or baseline_from_git(Path(tmp))
        figures = {
            name: {f"batch_{b}_us_per_image": cpu_per_image(path, b, pixels) for b in (1, BATCH)}
            for name, path in (("baseline", baseline), ("model", args.model))
        }
    ratios = {key: figures["model"][key] / figures["baseline"][key] for key in figures["model"]}
    result = {
        "model": str(
            args.model.resolve().relative_to(REPO)
            if args.model.resolve().is_relative_to(REPO)
            else args.model
        ),
        "baseline": str(args.baseline or f"{BASELINE_PATH} (git history)"),
        "measure": f"CPU us per image (thread_time), median of {REPEATS} rounds, 1 intra-op thread",
        **figures,
        "ratio_model_to_baseline": ratios,
    }
    print(f"{'':<10} {'batch 1':>12} {f'batch {BATCH}':>12}  (CPU us per image)")
    for name in ("baseline", "model"):
        row = figures[name]
        print(f"{name:<10} {row['batch_1_us_per_image']:>12.1f} {row[f'batch_{BATCH}_us_per_image']:>12.1f}")
    one, many = ratios["batch_1_us_per_image"], ratios[f"batch_{BATCH}_us_per_image"]
    print(f"{'ratio':<10} {one:>11.2f}x {many:>11.2f}x")
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
