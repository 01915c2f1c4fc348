"""Single-digit accuracy of the preprocessing on realistic and hard pictures; writes a JSON results file.

The same MNIST test digits (every 10th by default) are rendered the way people send them
(tests/images/digit_renderers.py: photos, pen, table, canvas, JPEG, ruled and graph paper, slanted
writing), plus tight crops (ink > 0 and > 64) and small faint 32x32 pictures, each read by
``service.images`` and classified by the model. ``service`` is imported from ``sys.path``, so the
same script scores an older checkout: ``PYTHONPATH=/path/to/old/checkout python bench/...``.
``--no-deskew`` turns the slant correction off, to measure what it brings.

    PYTHONPATH=$PWD .venv/bin/python bench/single_digit_accuracy.py \
        --out bench/results/single-digit-latest.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "images"))
import digit_renderers as renderers  # noqa: E402

from contract import INPUT_NAME, OUTPUT_NAME, to_model_input  # noqa: E402
from service import images  # noqa: E402
from service.settings import DEFAULT_MODEL_PATH  # noqa: E402  (the shipped model)

FAINT = ((0, 30), (0, 45), (60, 90), (200, 237))  # (background, stroke) of the 32x32 pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=1000, help="MNIST test digits (evenly spaced)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--no-deskew", action="store_true", help="turn the slant correction off")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()
    if args.no_deskew:
        images.DESKEW = False
    from training.data import load

    test = load().test
    step = len(test) // args.digits
    digits, labels = test.images[::step][: args.digits], test.labels[::step][: args.digits]
    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])

    def score(pixels: list[np.ndarray | None]) -> dict:
        refused = sum(p is None for p in pixels)
        batch = np.stack([np.zeros((28, 28), np.uint8) if p is None else p for p in pixels])
        predicted = session.run([OUTPUT_NAME], {INPUT_NAME: to_model_input(batch)})[0].argmax(axis=1)
        right = (predicted == labels[: len(pixels)]) & np.array([p is not None for p in pixels])
        return {"accuracy": round(float(right.mean()), 4), "refused": refused, "n": len(pixels)}

    def read(call) -> np.ndarray | None:
        try:
            return call()
        except images.ImageError:
            return None

    results: dict[str, dict] = {}
    started = time.perf_counter()
    results["clean"] = score([read(lambda d=d: d) for d in digits])
    results["clean_through_to_mnist"] = score(
        [read(lambda d=d: images.to_mnist(Image.fromarray(d))) for d in digits]
    )
    for level in (0, 64):
        crops = []
        for digit in digits:
            rows, cols = np.nonzero(digit > level)
            crop = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
            crops.append(read(lambda c=crop: images.to_mnist(Image.fromarray(c))))
        results[f"tight_crop_ink_gt_{level}"] = score(crops)
    for background, stroke in FAINT:
        pixels = []
        for digit in digits:
            small = np.asarray(Image.fromarray(digit).resize((32, 32), Image.Resampling.BICUBIC), np.float32)
            faint = np.rint(background + small / 255 * (stroke - background)).astype(np.uint8)
            pixels.append(read(lambda f=faint: images.to_mnist(Image.fromarray(f))))
        results[f"small_32px_stroke_{stroke}_on_{background}"] = score(pixels)
    for name, render in renderers.RENDERERS.items():
        rng = np.random.default_rng(args.seed)
        pixels = []
        for digit in digits:
            data = render(digit, rng)
            pixels.append(read(lambda data=data: images.read_digit(data, max_pixels=40_000_000)))
        results[name] = score(pixels)
        print(f"{name}: {results[name]['accuracy']:.2%} (refused {results[name]['refused']})", flush=True)
    report = {
        "what": "single-digit accuracy: MNIST test digits as people send them, read by service.images",
        "service_images": str(Path(images.__file__).resolve()),
        "model": str(args.model),
        "deskew": bool(getattr(images, "DESKEW", False)),
        "digits": len(digits),
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    for name, figures in results.items():
        print(f"{name:38s} {figures['accuracy']:.2%}  refused {figures['refused']}/{figures['n']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
