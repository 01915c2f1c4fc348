"""Property test of the image path: any bytes (valid pictures made with Pillow, then truncated, bit-flipped,
header-patched or padded) give a digit or an ImageError (422/413), never another exception; through
``POST /predict`` only 200 or 4xx. The process's peak RSS may not grow by more than MEMORY_BOUND_MB over
the whole run (pixel bombs are refused from the header, before decoding). Time per call is printed, not
asserted (a hang fails by pytest's timeout; speed is bench/'s job: bench/preprocess_bench.py).
"""

from __future__ import annotations

import io
import resource
import statistics
import struct
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from PIL import Image, ImageDraw

from service import images
from service.app import create_app
from service.settings import Settings

MAX_PIXELS = 4_000_000  # small enough that patched headers often cross it
MEMORY_BOUND_MB = 400

FORMATS = {
    "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"],
    "JPEG": ["L", "RGB", "CMYK"],
    "GIF": ["L", "P"],
    "BMP": ["1", "L", "P", "RGB"],
    "WEBP": ["RGB", "RGBA"],
    "TIFF": ["1", "L", "RGB", "RGBA", "I;16", "CMYK"],
}
timings: dict[str, list[float]] = {"read_digit": [], "http": []}


@st.composite
def pictures(draw: st.DrawFn) -> bytes:
    """A valid picture: some format and mode, some size, a few strokes of some colour."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    side = st.one_of(st.integers(1, 80), st.integers(81, 700))  # small mostly; some take the reduce paths
    width, height = draw(side), draw(side)
    base = Image.new("RGBA", (width, height), (draw(st.integers(0, 255)),) * 3 + (draw(st.integers(0, 255)),))
    pen = ImageDraw.Draw(base)
    for _ in range(draw(st.integers(0, 4))):
        points = [(draw(st.integers(0, width)), draw(st.integers(0, height))) for _ in range(2)]
        colour = (draw(st.integers(0, 255)),) * 3 + (draw(st.integers(0, 255)),)
        pen.line(points, fill=colour, width=draw(st.integers(1, 8)))
    image = base.convert(mode) if mode != "I;16" else base.convert("L").convert("I;16")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A picture, then one or more of the ways files break or are forged."""
    data = bytearray(draw(pictures()))
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "patch_header", "huge_dims", "append", "zero_run"]))
        if not data:
            break
        if how == "truncate":
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif how == "flip":
            for _ in range(draw(st.integers(1, 8))):
                data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif how == "patch_header":
            start = draw(st.integers(0, min(len(data) - 1, 64)))
            patch = draw(st.binary(min_size=1, max_size=8))
            data[start : start + len(patch)] = patch
        elif how == "huge_dims":  # a plausible size field anywhere in the header: big numbers
            start = draw(st.integers(0, min(len(data) - 1, 40)))
            value = draw(st.sampled_from([0, 1, 0xFFFF, 0x7FFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF]))
            data[start : start + 4] = struct.pack(draw(st.sampled_from([">I", "<I"])), value)
        elif how == "append":
            data += draw(st.binary(max_size=256))
        elif how == "zero_run":
            start = draw(st.integers(0, len(data) - 1))
            data[start : start + draw(st.integers(1, 64))] = b"\x00" * 64
    return bytes(data)


any_bytes = st.one_of(pictures(), damaged(), st.binary(max_size=512))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


@pytest.fixture(scope="module", autouse=True)
def rss_baseline() -> float:
    """The peak RSS before this module's first test (autouse: set up first)."""
    return peak_rss_mb()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=any_bytes)
def test_read_digit_gives_a_digit_or_an_image_error(data: bytes) -> None:
    started = time.perf_counter()
    pixels, error = _read(data)
    elapsed = time.perf_counter() - started
    timings["read_digit"].append(elapsed)
    if error is not None:
        assert error.status_code in (413, 422)
        assert str(error)
    else:
        assert pixels.shape == (28, 28)
        assert pixels.dtype == np.uint8


def _read(data: bytes) -> tuple[np.ndarray | None, images.ImageError | None]:
    """read_digit's result or its ImageError; any other exception propagates and fails the test."""
    try:
        return images.read_digit(data, max_pixels=MAX_PIXELS), None
    except images.ImageError as exc:
        return None, exc


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(create_app(Settings(max_image_pixels=MAX_PIXELS, access_log=False))) as test_client:
        yield test_client


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    data=any_bytes,
    as_upload=st.booleans(),
    content_type=st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
)
def test_predict_answers_200_or_4xx(
    client: TestClient, data: bytes, as_upload: bool, content_type: str
) -> None:
    started = time.perf_counter()
    if as_upload:
        response = client.post("/predict", files={"image": ("digit", data, content_type)})
    else:
        response = client.post("/predict", content=data, headers={"content-type": content_type})
    elapsed = time.perf_counter() - started
    timings["http"].append(elapsed)
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
    if response.status_code == 200:
        assert 0 <= response.json()["label"] <= 9
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.status_code in (413, 422), response.text


def test_time_and_memory_stayed_bounded(rss_baseline: float) -> None:
    """Runs after the two properties (file order): prints the time per call, checks the memory bound."""
    lines = []
    for name, values in timings.items():
        if values:
            lines.append(
                f"{name}: {len(values)} calls, median {statistics.median(values) * 1000:.2f} ms, "
                f"max {max(values) * 1000:.1f} ms"
            )
    growth = peak_rss_mb() - rss_baseline
    print("image fuzz:", "; ".join(lines), f"; peak RSS growth {growth:.0f} MB")
    assert timings["read_digit"], "the property tests did not run first"
    assert growth < MEMORY_BOUND_MB
