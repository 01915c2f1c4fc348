"""Exact-number accuracy of POST /read's segmentation on handwritten numbers made from MNIST test digits.

Numbers of 2-6 MNIST **test** digits (tests/images/number_renderers.py), spaced, close and touching, as
paper scans, canvas exports and photos, read by ``service.reading.read_line`` with the model, the number
right only if every digit is. Beside each figure: what single-digit accuracy allows (the same digits
read one by one, clean), and for comparison the same pictures with splitting and joining off
(connected components alone). Rerun it on a new model with --model; it writes --out (JSON).

    PYTHONPATH=$PWD .venv/bin/python bench/read_accuracy.py --out bench/results/read-accuracy-latest.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "images"))
sys.path.insert(0, str(REPO))
import number_renderers  # noqa: E402

from contract import INPUT_NAME, OUTPUT_NAME, to_model_input  # noqa: E402
from service import reading  # noqa: E402
from service.settings import DEFAULT_MODEL_PATH  # noqa: E402  (the shipped model)

SEED = 2026  # the evaluation's numbers (reading.py's constants were tuned on another seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="numbers per spacing class and rendering")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-baseline", action="store_true", help="skip the components-alone run")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from training.data import load

    test = load().test
    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])

    def score(pixels: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: to_model_input(pixels)})[0]

    def read(data: bytes) -> np.ndarray:
        digits = reading.read_line(data, max_pixels=40_000_000, score=score)
        return np.stack([digit.pixels for digit in digits])

    started = time.perf_counter()
    report = {
        "what": "exact-number accuracy of /read (service.reading) on 2-6 digit numbers of MNIST test digits",
        "model": str(args.model),
        "seed": args.seed,
        "results": number_renderers.evaluate(
            test.images, test.labels, score, count=args.count, seed=args.seed, read_line=read
        ),
    }
    if not args.no_baseline:  # connected components alone: no split of touching digits, no join
        reading.SPLIT_WIDTH, reading.JOIN_GAP = math.inf, -math.inf
        report["components_alone"] = number_renderers.evaluate(
            test.images, test.labels, score, count=args.count, seed=args.seed, read_line=read
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    for key, figures in report["results"].items():
        base = report.get("components_alone", {}).get(key, {}).get("exact")
        print(
            f"{key:18s} exact {figures['exact']:.1%}  single-digit bound {figures['single_digit_bound']:.1%}"
            + (f"  components alone {base:.1%}" if base is not None else "")
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
