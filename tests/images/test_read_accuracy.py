"""Acceptance for /read's segmentation: numbers of 2-6 MNIST test digits, read exactly.

A small run of bench/read_accuracy.py's evaluation (the same generator and seed, 12 numbers per spacing
class and rendering = 108 numbers; the figures in docs come from the full script): spaced and close
numbers must be read nearly as well as single-digit accuracy allows, touching ones far better than
connected components alone (which read almost none of them).
"""

from __future__ import annotations

import math

import number_renderers
import numpy as np
import onnxruntime as ort
import pytest
from repo_files import SHIPPED_MODEL

from contract import INPUT_NAME, OUTPUT_NAME, to_model_input
from service import reading

COUNT = 12
SEED = 2026
SEPARATE_MARGIN = 0.1  # spaced and close: within this of the single-digit bound (small sample)
TOUCHING_GAIN = 0.15  # touching: at least this far above components alone

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evaluation() -> tuple[dict, dict]:
    from training.data import load

    test = load().test
    session = ort.InferenceSession(str(SHIPPED_MODEL), providers=["CPUExecutionProvider"])

    def score(pixels: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: to_model_input(pixels)})[0]

    def read(data: bytes) -> np.ndarray:
        return np.stack([d.pixels for d in reading.read_line(data, max_pixels=40_000_000, score=score)])

    def run() -> dict:
        return number_renderers.evaluate(
            test.images, test.labels, score, count=COUNT, seed=SEED, read_line=read
        )

    results = run()
    saved = reading.SPLIT_WIDTH, reading.JOIN_GAP
    reading.SPLIT_WIDTH, reading.JOIN_GAP = math.inf, -math.inf
    try:
        alone = run()
    finally:
        reading.SPLIT_WIDTH, reading.JOIN_GAP = saved
    for key, figures in results.items():
        print(
            f"\n{key}: exact {figures['exact']:.1%} (bound {figures['single_digit_bound']:.1%}, "
            f"components alone {alone[key]['exact']:.1%})",
            end="",
        )
    return results, alone


@pytest.mark.parametrize("spacing", ["spaced", "close"])
def test_separate_digits_read_nearly_as_well_as_single_digits_allow(evaluation, spacing):
    results, _ = evaluation
    assert results[spacing]["exact"] >= results[spacing]["single_digit_bound"] - SEPARATE_MARGIN


def test_touching_digits_are_split(evaluation):
    results, alone = evaluation
    assert results["touching"]["exact"] >= alone["touching"]["exact"] + TOUCHING_GAIN
