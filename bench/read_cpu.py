"""CPU per request of /read against /predict, in process (decode + preprocess + segment + model calls).

Inputs made from MNIST test digits (tests/images renderers, fixed seed): a canvas export and a paper
photo of one digit (/predict), and lines of 4 digits, spaced and touching, as canvas and photo (/read,
reported per digit). CPU time (process_time) per call, the fastest of 5 rounds of --repeat calls.
``service`` is imported from ``sys.path``, so an older checkout's /predict can be measured the same
way:
``PYTHONPATH=/old/checkout python bench/read_cpu.py`` (it skips /read where there is none).

    PYTHONPATH=$PWD .venv/bin/python bench/read_cpu.py --out bench/results/read-cpu-latest.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "images"))
import digit_renderers  # noqa: E402
import number_renderers  # noqa: E402

from service.model import DigitModel  # noqa: E402
from service.routes import predict  # noqa: E402
from service.settings import Settings  # noqa: E402

ROUNDS = 5  # the machine is shared: the fastest of several rounds is the figure least disturbed


def cpu_per_call(call, repeat: int, rounds_wanted: int = ROUNDS) -> float:
    """CPU ms per call: the fastest of several rounds of ``repeat`` calls, after a warm-up call."""
    call()
    rounds = []
    for _ in range(rounds_wanted):
        started = time.process_time()
        for _ in range(repeat):
            call()
        rounds.append((time.process_time() - started) / repeat * 1000)
    return min(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="the figure is the fastest round")
    parser.add_argument("--predict-only", action="store_true", help="skip /read (before/after runs)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from training.data import load

    test = load().test
    settings = Settings()
    model = DigitModel.load(settings.model_path)
    rng = np.random.default_rng(0)
    digit = test.images[0]
    results: dict[str, float] = {}
    for name in ("canvas_export", "paper_photo"):
        data = digit_renderers.RENDERERS[name](digit, rng)
        inputs = predict.Inputs(pictures=[data])
        results[f"predict/{name} ms"] = round(
            cpu_per_call(
                lambda inputs=inputs: predict.infer(model, inputs, settings, preprocessed=False),
                args.repeat,
                args.rounds,
            ),
            3,
        )
    try:
        from service.routes import read
    except ImportError:
        read = None
    if args.predict_only:
        read = None
    if read is not None:
        four = [test.images[i] for i in (1, 2, 3, 4)]
        for spacing in ("spaced", "touching"):
            for name in ("canvas", "photo"):
                data = number_renderers.RENDERERS[name](number_renderers.compose(four, spacing, rng), rng)
                found = len(read.read_number(model, data, settings, preprocessed=False).digits)
                ms = cpu_per_call(
                    lambda data=data: read.read_number(model, data, settings, preprocessed=False),
                    args.repeat // 4,
                )
                results[f"read/{spacing}/{name} ms per digit"] = round(ms / 4, 3)
                results[f"read/{spacing}/{name} digits found"] = found
    report = {"service": str(Path(predict.__file__).resolve()), "repeat": args.repeat, "cpu_ms": results}
    for key, value in results.items():
        print(f"{key:40s} {value}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
