"""Acceptance: images as people send them are read as accurately as clean MNIST.

The shipped ONNX model (run with onnxruntime directly, input made by ``contract.to_model_input``)
classifies the same 1000 MNIST test digits clean, as MNIST ships them, and rendered the way people
send pictures, each rendering decoded and preprocessed by ``service.images.read_digit``:

- paper_photo: dark ink on off-white paper, 300-600 px, off-centre in a larger frame, a lighting
  gradient, sensor noise, slight blur, JPEG quality 70-85;
- pen_photo: the same with a fine pen (strokes about half as wide as MNIST's);
- paper_on_table: a sheet of paper, turned a little, on a darker grained table;
- canvas_export: 280x280 RGBA, black strokes on a fully transparent background;
- jpeg_white_on_black: white on black like MNIST, upscaled, off-centre, JPEG quality 70-90.

Every realistic variant must score within MARGIN of clean on the same digits. Printed digits (0-9
in every upright font on the machine and Pillow's bundled one, several sizes and positions, on
noisy paper, JPEG) have no MNIST counterpart and must reach PRINTED_MIN.

Each test prints the accuracy it measured (``pytest -s``), and the printed-digit test each font's
mistakes; the thresholds above are what is asserted. The shipped model's
figures are in models/digits/realistic.json (written by bench/looks_like_digit.py) and its card.
"""

from __future__ import annotations

import digit_renderers as renderers
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from repo_files import SHIPPED_MODEL

from contract import INPUT_NAME, OUTPUT_NAME, to_model_input
from service.images import read_digit, to_mnist

DIGITS = 1000  # every 10th of the 10k MNIST test digits
MARGIN = 0.01  # a realistic variant may score at most 1 percentage point below clean on the same digits
PRINTED_MIN = 0.97  # printed digits (fonts are not handwriting)
MIN_SYSTEM_FONTS = 4  # fonts-dejavu-core alone has 6 upright faces, fonts-liberation 8 more
PRINTED_SIZES = (40, 80, 160)  # font sizes in px: small in a big frame up to filling it
MAX_PIXELS = 40_000_000
SEED = 0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    if not SHIPPED_MODEL.is_file():
        pytest.fail(f"the shipped model is missing: {SHIPPED_MODEL} (train and export: python -m training)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(SHIPPED_MODEL), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from training.data import load  # tests may import training; the service never does

    test = load().test
    return test.images[:: len(test) // DIGITS][:DIGITS], test.labels[:: len(test) // DIGITS][:DIGITS]


def predict(session: ort.InferenceSession, pixels: list[np.ndarray] | np.ndarray) -> np.ndarray:
    batch = to_model_input(np.stack(list(pixels)))
    return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0].argmax(axis=1)


@pytest.fixture(scope="module")
def clean_accuracy(session, digits) -> float:
    images, labels = digits
    accuracy = float((predict(session, images) == labels).mean())
    print(f"\nclean MNIST ({len(labels)} test digits): {accuracy:.2%}")
    return accuracy


def test_preprocessing_clean_mnist_keeps_accuracy(session, digits, clean_accuracy):
    """MNIST digits are already MNIST-format: running them through to_mnist must not cost accuracy."""
    images, labels = digits
    accuracy = float(
        (predict(session, [to_mnist(Image.fromarray(image)) for image in images]) == labels).mean()
    )
    print(f"\nclean MNIST through to_mnist: {accuracy:.2%} (clean {clean_accuracy:.2%})")
    assert accuracy >= clean_accuracy - MARGIN


@pytest.mark.parametrize("variant", list(renderers.RENDERERS))
def test_realistic_pictures_as_accurate_as_clean(session, digits, clean_accuracy, variant):
    images, labels = digits
    render = renderers.RENDERERS[variant]
    rng = np.random.default_rng(SEED)
    pixels = [read_digit(render(image, rng), max_pixels=MAX_PIXELS) for image in images]
    accuracy = float((predict(session, pixels) == labels).mean())
    print(f"\n{variant}: {accuracy:.2%} (clean {clean_accuracy:.2%}, {len(labels)} digits)")
    assert accuracy >= clean_accuracy - MARGIN, f"{variant}: {accuracy:.2%} vs clean {clean_accuracy:.2%}"


def test_printed_digits(session):
    system_fonts = renderers.font_files()
    if len(system_fonts) < MIN_SYSTEM_FONTS:
        pytest.fail(
            f"found {len(system_fonts)} upright fonts under /usr/share/fonts, need {MIN_SYSTEM_FONTS}: "
            "install Debian's fonts-dejavu-core and fonts-liberation"
        )
    fonts = [None, *system_fonts]  # None: Pillow's bundled TrueType font (Aileron), always there
    rng = np.random.default_rng(SEED)
    pixels, labels, names = [], [], []
    for source in fonts:
        for size in PRINTED_SIZES:
            font = renderers.load_font(source, size)
            for label in range(10):
                data = renderers.printed_digit(label, font, rng)
                pixels.append(read_digit(data, max_pixels=MAX_PIXELS))
                labels.append(label)
                names.append(source.stem if source else "Pillow default")
    predicted, labels, names = predict(session, pixels), np.array(labels), np.array(names)
    accuracy = float((predicted == labels).mean())
    print(f"\nprinted digits: {accuracy:.2%} ({len(labels)} pictures, {len(fonts)} fonts)")
    for name in dict.fromkeys(names):
        mine = names == name
        wrong = [f"{t}->{p}" for t, p in zip(labels[mine], predicted[mine], strict=True) if t != p]
        print(f"  {name}: {(predicted[mine] == labels[mine]).mean():.0%} {' '.join(wrong)}")
    assert accuracy >= PRINTED_MIN
