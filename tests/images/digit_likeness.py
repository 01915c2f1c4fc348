"""Does the model tell digits from non-digits in pictures as users send them? (test and bench helper)

Digits: the realistic renderings of ``digit_renderers`` (MNIST test digits photographed, drawn on a
canvas, printed in every font here). Non-digits: ``training.negatives`` pictures the digit head never
trained on (the test seed, held-out fonts, every kind including those never trained on), each laid out
in MNIST format and then rendered the way a user would send it (a photo of paper, a canvas export, a
white-on-black JPEG). Everything goes through ``service.images.read_digit``, the service's one
preprocessing, and then the model, so the figures are the service's.

Shared by tests/images/test_digit_likeness.py (which asserts the goals) and bench/looks_like_digit.py
(which writes the figures the model card quotes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import digit_renderers as renderers
import numpy as np
import onnxruntime as ort

import contract
from service.images import NoInk, read_digit
from service.model import looks_like_digit

MAX_PIXELS = 40_000_000
SEED = 0
NON_DIGIT_SEED = 3  # training.__main__.SEED_HEAD_TEST: the held-out seed, never trained on
PRINTED_SIZES = (40, 80, 160)
NON_DIGIT_RENDERERS = ("paper_photo", "canvas_export", "jpeg_white_on_black")


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def classify(sess: ort.InferenceSession, pixels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, looks_like_digit) for uint8 28x28 images, by the service's rule (fallback included)."""
    batch = contract.to_model_input(np.stack(pixels))
    names = [o.name for o in sess.get_outputs()]
    outputs = dict(zip(names, sess.run(names, {contract.INPUT_NAME: batch}), strict=True))
    probabilities = outputs[contract.OUTPUT_NAME]
    if contract.DIGIT_SCORE_NAME in outputs:
        flags = looks_like_digit(outputs[contract.DIGIT_SCORE_NAME].ravel(), from_model=True)
    else:
        flags = looks_like_digit(probabilities.max(axis=1), from_model=False)
    return probabilities.argmax(axis=1), flags


def realistic_digits(
    images: np.ndarray, labels: np.ndarray
) -> Iterator[tuple[str, list[np.ndarray], np.ndarray]]:
    """(set name, preprocessed pixels, labels) for every realistic rendering and the printed digits."""
    for variant, render in renderers.RENDERERS.items():
        rng = np.random.default_rng(SEED)
        yield variant, [read_digit(render(image, rng), max_pixels=MAX_PIXELS) for image in images], labels
    rng = np.random.default_rng(SEED)
    pixels, printed = [], []
    for source in [None, *renderers.font_files()]:
        for size in PRINTED_SIZES:
            font = renderers.load_font(source, size)
            for label in range(10):
                pixels.append(read_digit(renderers.printed_digit(label, font, rng), max_pixels=MAX_PIXELS))
                printed.append(label)
    yield "printed", pixels, np.array(printed)


def non_digits(per_kind: int) -> Iterator[tuple[str, list[np.ndarray]]]:
    """(kind, preprocessed pixels) of held-out non-digit pictures, each rendered by one of
    NON_DIGIT_RENDERERS in turn. Pictures the service finds no ink in (a 422 there) are left out."""
    from training import negatives

    _, held_out_fonts = negatives.font_split()
    rng = np.random.default_rng(SEED)
    for kind in negatives.ALL_KINDS:
        pixels = []
        for i, picture in enumerate(negatives.pictures(kind, per_kind, NON_DIGIT_SEED, held_out_fonts)):
            layout = negatives.mnist_layout(picture)
            if layout is None:
                continue
            render = renderers.RENDERERS[NON_DIGIT_RENDERERS[i % len(NON_DIGIT_RENDERERS)]]
            try:
                pixels.append(read_digit(render(layout, rng), max_pixels=MAX_PIXELS))
            except NoInk:
                continue
        yield kind, pixels
