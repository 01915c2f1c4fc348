"""Training benchmark: wall time, time per epoch and accuracy of the default recipe (the shipped CNN)
and of the lesson's linear model beside it. Prints figures, asserts nothing, writes nothing to models/.

    .venv/bin/python bench/train_bench.py                 # both, full settings (several minutes)
    .venv/bin/python bench/train_bench.py --epochs 2      # quicker look
    .venv/bin/python bench/train_bench.py --only linear
    .venv/bin/python bench/train_bench.py --keep /tmp/bench   # keep both models, their cards and figures

Not run in CI. The machine's load matters a lot: note it next to the figures (the script prints it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from training.__main__ import command_line, run
from training.config import TrainConfig

# The lesson's model: softmax regression on the pixels. Augmentation only hurts a linear model.
LINEAR = {"architecture": "linear", "augment": False}


def bench(name: str, config: TrainConfig, keep: Path | None = None) -> dict:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        out_dir = keep / name if keep else Path(tmp)
        config = dataclasses.replace(config, out_dir=out_dir, report=keep is not None)
        started = time.perf_counter()
        metrics = run(config)
        wall = time.perf_counter() - started
    epochs = metrics["epoch_seconds"]
    return {
        "model": name,
        "command": command_line(config),
        "parameters": metrics["parameters"],
        "epochs": len(epochs),
        "wall_seconds": round(wall, 1),
        "train_seconds": metrics["train_seconds"],
        "seconds_per_epoch": round(sum(epochs) / len(epochs), 1),
        "validation_accuracy": round(metrics["validation_accuracy"], 4),
        "test_accuracy": round(metrics["test_accuracy"], 4),
        "best_epoch": metrics["best_epoch"],
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--only", choices=("cnn", "linear"), help="run one model only")
    parser.add_argument("--epochs", type=int, help="override the number of epochs of both")
    parser.add_argument("--threads", type=int, help="override torch CPU threads (default: the config's)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--keep", type=Path, help="keep the models and their reports in KEEP/cnn and KEEP/linear"
    )
    args = parser.parse_args()

    overrides = {"progress": False}
    if args.epochs:
        overrides["epochs"] = args.epochs
    if args.threads is not None:
        overrides["threads"] = args.threads
    runs = {"cnn": TrainConfig(**overrides), "linear": TrainConfig(**(overrides | LINEAR))}
    results = [bench(name, config, args.keep) for name, config in runs.items() if args.only in (None, name)]

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"python {platform.python_version()}"
    )
    header = ("model", "params", "epochs", "wall (s)", "s/epoch", "val acc", "test acc", "load avg")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        cells = (
            r["model"],
            f"{r['parameters']:,}",
            r["epochs"],
            r["wall_seconds"],
            r["seconds_per_epoch"],
            f"{100 * r['validation_accuracy']:.2f}%",
            f"{100 * r['test_accuracy']:.2f}%",
            f"{r['load_average_before']:.1f} -> {r['load_average_after']:.1f}",
        )
        print("| " + " | ".join(str(c) for c in cells) + " |")
    for r in results:
        print(f"{r['model']}: {r['command']}")


if __name__ == "__main__":
    main()
