"""service.images on synthetic and real-looking pictures: every input kind ends as the same MNIST digit.

The reference is a "7" drawn white on black (asymmetric, so a wrong rotation or flip shows) and run
through ``to_mnist``; each other rendering of the same stroke must come out mnist-like (uint8 28x28,
ink box within 20x20, centre of mass at (14, 14), white on black) and match the reference closely.
"""

from __future__ import annotations

import base64
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from service.images import (
    ImageError,
    ImageTooLarge,
    NoInk,
    UnreadableImage,
    decode_image,
    png_base64,
    read_digit,
    to_mnist,
)

MAX_PIXELS = 40_000_000
SIMILAR = 0.9  # correlation with the reference output


def seven(size: int = 200) -> np.ndarray:
    """A "7" stroke, white on black, uint8 [size, size]."""
    image = Image.new("L", (size, size), 0)
    points = [(0.25 * size, 0.2 * size), (0.75 * size, 0.2 * size), (0.42 * size, 0.85 * size)]
    ImageDraw.Draw(image).line(points, fill=255, width=max(1, size // 10), joint="curve")
    return np.asarray(image)


INK = seven()
REFERENCE = to_mnist(Image.fromarray(INK))


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28x28 digits, the best over shifts of up to 1 px (rounding the centre of mass
    of a slightly different rendering may place it one pixel over)."""
    flat = b.ravel().astype(np.float64)
    shifts = [np.roll(a, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return max(float(np.corrcoef(shift.ravel().astype(np.float64), flat)[0, 1]) for shift in shifts)


def assert_mnist_like(out: np.ndarray) -> None:
    assert out.dtype == np.uint8
    assert out.shape == (28, 28)
    rows, cols = np.nonzero(out)
    assert rows.size > 0
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert 17 <= max(height, width) <= 20, (height, width)  # longer side 20 (LANCZOS may fade an edge)
    mass = out.astype(np.float64)
    centre_y = (mass.sum(axis=1) @ np.arange(28)) / mass.sum()
    centre_x = (mass.sum(axis=0) @ np.arange(28)) / mass.sum()
    assert abs(centre_y - 14) <= 1, centre_y
    assert abs(centre_x - 14) <= 1, centre_x
    # White on black: the strokes reach full white, most of the field is black, the corners are.
    assert out.max() >= 200
    assert np.count_nonzero(out > 127) < 0.4 * out.size
    assert not out[[0, 0, -1, -1], [0, -1, 0, -1]].any()


def assert_reads_as_reference(data: bytes, similar: float = SIMILAR) -> np.ndarray:
    out = read_digit(data, max_pixels=MAX_PIXELS)
    assert_mnist_like(out)
    assert similarity(out, REFERENCE) >= similar, similarity(out, REFERENCE)
    return out


def test_reference_is_mnist_like():
    assert_mnist_like(REFERENCE)


def test_mnist_output_is_a_fixed_point():
    again = to_mnist(Image.fromarray(REFERENCE))
    assert np.abs(again.astype(int) - REFERENCE).mean() < 3


# --- the kinds of pictures people send ------------------------------------------------------------------


def dark_on_light_png() -> bytes:
    return encode(Image.fromarray(255 - INK), "PNG")


def dark_on_paper_jpeg() -> bytes:
    paper = np.array([235, 228, 210], np.float32)
    rgb = paper * (1 - INK[..., None] / 255) + np.array([30, 30, 60]) * (INK[..., None] / 255)
    return encode(Image.fromarray(rgb.astype(np.uint8)), "JPEG", quality=80)


def canvas(colour: tuple[int, int, int], background: tuple[int, int, int]) -> bytes:
    """A canvas export: strokes of ``colour`` whose alpha is the ink, on a fully transparent background."""
    rgba = np.zeros((*INK.shape, 4), np.uint8)
    rgba[..., :3] = np.where(INK[..., None] > 0, colour, background)
    rgba[..., 3] = INK
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def off_centre() -> bytes:
    frame = np.zeros((300, 400), np.uint8)
    frame[220:280, 10:70] = seven(60)
    return encode(Image.fromarray(frame), "PNG")


def huge_photo() -> bytes:
    """4000x3000 phone-photo-like JPEG: dark ink on paper, lighting gradient, noise, the digit off-centre."""
    rng = np.random.default_rng(0)
    height, width = 3000, 4000
    ink = np.zeros((height, width), np.float32)
    ink[1500:2700, 2200:3400] = np.asarray(Image.fromarray(INK).resize((1200, 1200)), np.float32) / 255
    light = np.linspace(1.0, 0.65, width, dtype=np.float32)[None, :]
    gray = (230 - 200 * ink) * light + rng.standard_normal((height, width), dtype=np.float32) * 6
    return encode(Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).convert("RGB"), "JPEG", quality=80)


def tiny() -> bytes:
    return encode(Image.fromarray(255 - INK).resize((8, 8), Image.Resampling.BOX), "PNG")


def sixteen_bit_png() -> bytes:
    gray = (60000 - (INK.astype(np.uint16) * 200)).astype(np.uint16)  # dark ink 9000 on paper 60000
    image = Image.fromarray(gray)
    assert image.mode == "I;16"
    return encode(image, "PNG")


def palette_png_with_transparency() -> bytes:
    image = Image.fromarray(np.where(INK > 127, 1, 0).astype(np.uint8), "P")
    image.putpalette([255, 255, 255, 20, 20, 20] + [0] * 762)
    return encode(image, "PNG", transparency=0)  # index 0 (white) transparent, strokes index 1 (black)


def cmyk_jpeg() -> bytes:
    cmyk = np.zeros((*INK.shape, 4), np.uint8)
    cmyk[..., 3] = INK  # black ink (K) on white paper
    return encode(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=90)


def animated_gif() -> bytes:
    bar = np.zeros_like(INK)
    bar[90:110, 20:180] = 255
    frames = [Image.fromarray(255 - INK).convert("P"), Image.fromarray(255 - bar).convert("P")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def specks() -> bytes:
    gray = 255 - INK.copy()
    rng = np.random.default_rng(1)
    for y, x in rng.integers(0, 200, (12, 2)):
        if INK[max(0, y - 15) : y + 15, max(0, x - 15) : x + 15].max() == 0:
            gray[y, x] = 0  # isolated single-pixel dots of dirt, away from the stroke
    return encode(Image.fromarray(gray), "PNG")


def dirt() -> bytes:
    """A paper photo with a few dots of dirt (4-6 px, too big for a 3x3 majority vote) far from the digit."""
    page = np.full((400, 500), 230, np.uint8)
    page[100:300, 150:350] = 230 - (INK * 0.8).astype(np.uint8)
    for y, x, size in ((20, 30, 5), (370, 460, 6), (200, 470, 4), (30, 250, 5)):
        page[y : y + size, x : x + size] = 40
    return encode(Image.fromarray(page).convert("RGB"), "JPEG", quality=85)


@pytest.mark.parametrize(
    "make",
    [
        dark_on_light_png,
        dark_on_paper_jpeg,
        lambda: canvas((0, 0, 0), (0, 0, 0)),
        lambda: canvas((255, 255, 255), (0, 0, 0)),
        lambda: canvas((255, 255, 255), (255, 255, 255)),
        lambda: canvas((30, 60, 200), (255, 255, 255)),
        off_centre,
        huge_photo,
        sixteen_bit_png,
        palette_png_with_transparency,
        cmyk_jpeg,
        animated_gif,
        specks,
        dirt,
    ],
    ids=[
        "dark-on-light",
        "paper-jpeg",
        "canvas-black-on-transparent",
        "canvas-white-on-transparent-black",
        "canvas-white-on-transparent-white",
        "canvas-blue-on-transparent",
        "off-centre",
        "huge-4000x3000-photo",
        "16-bit-png",
        "palette-png-transparency",
        "cmyk-jpeg",
        "animated-gif-frame-0",
        "noise-specks",
        "dots-of-dirt",
    ],
)
def test_pictures_read_as_the_same_digit(make):
    assert_reads_as_reference(make())


def large(mode: str) -> bytes:
    """The dark-on-light "7" at 1500x1500 (reduced on decode) in a mode Image.reduce cannot average."""
    gray = np.asarray(Image.fromarray(255 - INK).resize((1500, 1500), Image.Resampling.BICUBIC))
    if mode == "I;16":
        return encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG")
    if mode == "P+transparency":
        paletted = Image.fromarray(gray).convert("P")
        return encode(paletted, "PNG", transparency=int(np.asarray(paletted)[0, 0]))
    return encode(Image.fromarray(gray).convert(mode), "TIFF" if mode == "CMYK" else "PNG")


@pytest.mark.parametrize("mode", ["1", "P", "P+transparency", "I;16", "LA", "RGBA", "CMYK"])
def test_large_pictures_in_every_mode(mode):
    data = large(mode)
    assert max(decode_image(data, max_pixels=MAX_PIXELS).size) <= 512
    assert_reads_as_reference(data)


def stroke_width(pixels: np.ndarray) -> float:
    """2 * area / perimeter of the pixels >= 128: the mean stroke width."""
    mask = np.pad(pixels >= 128, 1)
    perimeter = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    return 2 * np.count_nonzero(mask) / perimeter


def test_fine_pen_strokes_are_thickened_to_mnist_width():
    """A "7" written with a fine pen on a big page: 3 px strokes on a 600 px digit would be 0.1 px at
    MNIST scale; they come out about as wide as MNIST's strokes and fully white."""
    page = Image.new("L", (900, 800), 240)
    size = 600
    points = [(150 + 0.25 * size, 100 + 0.2 * size), (150 + 0.75 * size, 100 + 0.2 * size)]
    points.append((150 + 0.42 * size, 100 + 0.85 * size))
    ImageDraw.Draw(page).line(points, fill=30, width=3, joint="curve")
    out = read_digit(encode(page, "PNG"), max_pixels=MAX_PIXELS)
    assert_mnist_like(out)
    assert out.max() == 255  # without thickening: a faint grey hairline
    assert 1.3 <= stroke_width(out) <= 2.8, stroke_width(out)
    assert stroke_width(REFERENCE) > 2  # the reference (20 px strokes at 200 px) is left as drawn


def sheet_on(surface: str, turn: float) -> bytes:
    """The dark "7" on a sheet of paper lying, turned a little, on a darker grained table (or on
    more of the same paper, to compare)."""
    rng = np.random.default_rng(3)
    table = 90 + 15 * np.sin(np.linspace(0, 40, 600))[:, None] + rng.normal(0, 4, (600, 700))
    if surface == "paper":
        table = 235 + rng.normal(0, 4, (600, 700))
    sheet = Image.new("L", (420, 380), 235)
    sheet.paste(Image.fromarray(255 - INK).point(lambda level: level * 235 // 255), (110, 90))
    cover = Image.new("L", sheet.size, 255).rotate(turn, expand=True)
    sheet = sheet.rotate(turn, expand=True, resample=Image.Resampling.BILINEAR)
    frame = Image.fromarray(np.clip(table, 0, 255).astype(np.uint8))
    frame.paste(sheet, (120, 90), cover)
    return encode(frame.convert("RGB"), "JPEG", quality=85)


@pytest.mark.parametrize("turn", [0.0, 5.0, -12.0])
def test_sheet_of_paper_on_a_table(turn):
    """The table around the sheet is not ink: the digit reads as if the sheet filled the picture."""
    on_table = read_digit(sheet_on("table", turn), max_pixels=MAX_PIXELS)
    on_paper = read_digit(sheet_on("paper", turn), max_pixels=MAX_PIXELS)
    assert_mnist_like(on_table)
    assert similarity(on_table, on_paper) > 0.95
    if turn == 0:
        assert similarity(on_table, REFERENCE) > SIMILAR


def test_bold_white_digit_on_black_is_not_a_sheet():
    """A big bold white stroke on black looks a little like a sheet on a table; it must read as
    the same digit as its dark-on-light twin."""
    image = Image.new("L", (300, 300), 0)
    points = [(40, 50), (260, 50), (120, 270)]
    ImageDraw.Draw(image).line(points, fill=255, width=70, joint="curve")
    white_on_black = read_digit(encode(image, "PNG"), max_pixels=MAX_PIXELS)
    dark_on_light = read_digit(
        encode(Image.eval(image, lambda level: 255 - level), "PNG"), max_pixels=MAX_PIXELS
    )
    assert_mnist_like(white_on_black)
    assert similarity(white_on_black, dark_on_light) > 0.95


def test_tiny_8x8_still_reads():
    assert_reads_as_reference(tiny(), similar=0.75)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"])
def test_accepted_formats(fmt):
    image = Image.fromarray(255 - INK).convert("RGB" if fmt == "JPEG" else "L")
    assert_reads_as_reference(encode(image, fmt))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    """Store the upright picture the way a camera with that Orientation tag would, then read it back."""
    inverse = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }
    upright = Image.fromarray(255 - INK).convert("RGB")
    stored = upright.transpose(inverse[orientation]) if orientation in inverse else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "JPEG", quality=90, exif=exif)
    assert Image.open(io.BytesIO(data)).getexif()[0x0112] == orientation
    assert_reads_as_reference(data)
    if orientation != 1:  # and without the tag the same pixels would be a different picture
        plain = to_mnist(stored)
        assert similarity(plain, REFERENCE) < 0.6


def test_decode_image_applies_orientation_and_takes_frame_0():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 270 on display: a 300x200 file is shown 200x300
    data = encode(Image.new("RGB", (300, 200), "white"), "JPEG", exif=exif)
    assert decode_image(data, max_pixels=MAX_PIXELS).size == (200, 300)
    gif = decode_image(animated_gif(), max_pixels=MAX_PIXELS)
    assert getattr(gif, "tell", lambda: 0)() == 0


@pytest.mark.parametrize("dark_on_light", [True, False])
def test_sixteen_bit_scales_like_eight_bit(dark_on_light):
    """The same picture as 8-bit and as 16-bit (value * 257) gives the same digit."""
    eight = 255 - INK if dark_on_light else INK
    sixteen = Image.fromarray(eight.astype(np.uint16) * 257)
    out8 = read_digit(encode(Image.fromarray(eight), "PNG"), max_pixels=MAX_PIXELS)
    out16 = read_digit(encode(sixteen, "PNG"), max_pixels=MAX_PIXELS)
    assert np.abs(out8.astype(int) - out16).max() <= 2


def test_faint_sixteen_bit_is_faint():
    """16-bit values are read on their own scale: a white digit at 2% of full scale is not ink."""
    faint = Image.fromarray((INK.astype(np.uint16) * 5).astype(np.uint16))  # 0..1275 of 65535
    assert faint.mode == "I;16"
    with pytest.raises(NoInk):
        read_digit(encode(faint, "PNG"), max_pixels=MAX_PIXELS)


MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "I", "I;16", "F", "CMYK", "YCbCr", "HSV"]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode(mode):
    source = Image.fromarray(255 - INK)
    if mode == "I;16":
        image = Image.fromarray((255 - INK).astype(np.uint16) * 257)
    elif mode == "F":
        image = Image.fromarray((255 - INK).astype(np.float32) / 255)  # floats in [0, 1]
    else:
        image = source.convert(mode)
    assert image.mode == mode
    out = to_mnist(image)
    assert_mnist_like(out)
    assert similarity(out, REFERENCE) >= SIMILAR


def test_transparent_parts_of_a_photo_count_as_paper():
    """Not a canvas export (the visible colours vary): dark ink on paper inside a transparent margin."""
    rgba = np.zeros((300, 300, 4), np.uint8)
    rgba[50:250, 50:250, :3] = (255 - INK)[..., None]
    rgba[50:250, 50:250, 3] = 255
    assert_reads_as_reference(encode(Image.fromarray(rgba, "RGBA"), "PNG"))


def test_sparse_strokes_of_several_colours_on_transparent():
    """Strokes whose colour varies (anti-aliased against a white matte, as GIFs are) on transparency."""
    rgba = np.zeros((*INK.shape, 4), np.uint8)
    rgba[..., :3] = (255 - INK)[..., None]  # edges gray, cores black
    rgba[..., 3] = np.where(INK > 0, 255, 0)  # binary alpha
    assert_reads_as_reference(encode(Image.fromarray(rgba, "RGBA"), "PNG"))


def test_faint_canvas_strokes_are_stretched():
    rgba = np.zeros((*INK.shape, 4), np.uint8)
    rgba[..., 3] = (INK * 0.5).astype(np.uint8)  # a pen at 50% opacity
    out = assert_reads_as_reference(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out.max() == 255


# --- blank pictures: 422 "the image has no ink" ---------------------------------------------------------


def noisy_paper() -> Image.Image:
    rng = np.random.default_rng(2)
    gray = 225 + rng.normal(0, 4, (300, 400)) - np.linspace(0, 60, 400)[None, :]  # noise and uneven light
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (100, 100), 255),
        Image.new("L", (100, 100), 0),
        Image.new("RGB", (64, 48), (120, 130, 140)),
        Image.new("RGBA", (280, 280), (0, 0, 0, 0)),
        Image.new("LA", (280, 280), (255, 0)),
        Image.new("I;16", (50, 50), 30000),
        Image.new("F", (50, 50), 0.5),
        Image.new("L", (8, 8), 200),
        noisy_paper(),
    ],
    ids=["white", "black", "gray", "transparent", "transparent-la", "16-bit", "float", "tiny", "noisy-paper"],
)
def test_blank_pictures_have_no_ink(image):
    with pytest.raises(NoInk, match=r"^the image has no ink") as error:
        read_digit(encode(image.convert("RGB") if image.mode == "F" else image, "PNG"), max_pixels=MAX_PIXELS)
    assert error.value.status_code == 422


def test_noisy_paper_photo_has_no_ink():
    data = encode(noisy_paper().convert("RGB"), "JPEG", quality=75)
    with pytest.raises(NoInk):
        read_digit(data, max_pixels=MAX_PIXELS)


def test_empty_pillow_image_has_no_ink():
    with pytest.raises(NoInk):
        to_mnist(Image.new("L", (0, 0)))


# --- unreadable and oversized pictures ------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG declaring width x height (valid signature, IHDR and CRC), with a tiny IDAT and IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height", "max_pixels"),
    [
        (100_000, 100_000, MAX_PIXELS),
        (10_000, 10_000, MAX_PIXELS),
        (5_000, 5_000, 1_000_000),
        (1_001, 1_000, 1_000_000),
    ],
    ids=["beyond-pillow-bomb-error", "pillow-bomb-warning", "over-configured-limit", "one-row-over"],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_oversized_declared_dimensions_fail_before_decoding(width, height, max_pixels):
    """Refused from the header alone (how fast: bench/preprocess_bench.py --only oversized)."""
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge, match="too large") as error:
            read_digit(png_header(width, height), max_pixels=max_pixels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.value.status_code == 413
    assert peak < 2_000_000  # no pixel buffer was allocated (a 5000x5000 one alone is 25 MB)


def test_limit_is_inclusive():
    data = encode(Image.fromarray(255 - INK), "PNG")  # 200x200 = 40000 pixels
    assert read_digit(data, max_pixels=40_000).shape == (28, 28)
    with pytest.raises(ImageTooLarge):
        read_digit(data, max_pixels=39_999)


def valid_png() -> bytes:
    return encode(Image.fromarray(255 - INK), "PNG")


def valid_jpeg() -> bytes:
    return encode(Image.fromarray(255 - INK).convert("RGB"), "JPEG")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not an image",
        bytes(range(256)) * 4,
        valid_png()[: len(valid_png()) // 2],
        valid_jpeg()[: len(valid_jpeg()) // 2],
        valid_png()[:40],
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
        encode(Image.fromarray(255 - INK), "PCX"),  # a real image, but not an accepted format
        encode(Image.fromarray(255 - INK).convert("RGB"), "ICO"),
        b"<svg xmlns='http://www.w3.org/2000/svg'><text>7</text></svg>",
    ],
    ids=[
        "empty",
        "text",
        "random",
        "truncated-png",
        "truncated-jpeg",
        "png-header-only",
        "bad-png",
        "pcx",
        "ico",
        "svg",
    ],
)
def test_unreadable_pictures(data):
    with pytest.raises(UnreadableImage) as error:
        read_digit(data, max_pixels=MAX_PIXELS)
    assert error.value.status_code == 422
    assert str(error.value)


@pytest.mark.parametrize(
    ("data", "max_pixels", "kind", "status"),
    [
        (b"not a picture", MAX_PIXELS, UnreadableImage, 422),
        (encode(Image.new("L", (64, 64), 255), "PNG"), MAX_PIXELS, NoInk, 422),
        (png_header(1_001, 1_000), 1_000_000, ImageTooLarge, 413),
    ],
    ids=["unreadable", "no-ink", "too-large"],
)
def test_every_failure_is_one_catchable_image_error_with_its_http_status(data, max_pixels, kind, status):
    """What the routes rely on: one ``except ImageError`` (a ValueError) catches every failure of a real
    bad picture, and each carries the status the API answers with."""
    with pytest.raises(ImageError) as error:
        read_digit(data, max_pixels=max_pixels)
    assert isinstance(error.value, ValueError)
    assert type(error.value) is kind
    assert error.value.status_code == status


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, 10_000), value=st.integers(0, 255), count=st.integers(1, 8))
def test_corrupted_files_give_image_errors_only(position, value, count):
    """Bytes flipped anywhere in valid PNG/JPEG/GIF files: a digit or an ImageError, never anything else."""
    for original in (valid_png(), valid_jpeg(), animated_gif()):
        data = bytearray(original)
        for index in range(count):
            data[(position + index * 977) % len(data)] = value
        try:
            out = read_digit(bytes(data), max_pixels=MAX_PIXELS)
        except ImageError:
            continue
        assert out.dtype == np.uint8
        assert out.shape == (28, 28)


@settings(max_examples=150, deadline=None)
@given(
    height=st.integers(1, 80),
    width=st.integers(1, 80),
    mode=st.sampled_from(["L", "RGB", "RGBA", "LA", "P", "1", "I;16"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_pixels_give_a_digit_or_no_ink(height, width, mode, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
    pixels[rng.random((height, width)) < rng.random()] = rng.integers(0, 256)  # some flat areas
    image = (
        Image.fromarray(pixels).convert(mode)
        if mode != "I;16"
        else Image.fromarray(pixels.astype(np.uint16) * 257)
    )
    try:
        out = to_mnist(image)
    except NoInk:
        return
    assert out.dtype == np.uint8
    assert out.shape == (28, 28)
    rows, cols = np.nonzero(out)
    assert rows.size == 0 or max(np.ptp(rows) + 1, np.ptp(cols) + 1) <= 20


# --- what the model saw -----------------------------------------------------------------------------------


def test_png_base64_round_trip():
    text = png_base64(REFERENCE)
    assert not text.startswith("data:")
    image = Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
    assert (image.format, image.mode, image.size) == ("PNG", "L", (28, 28))
    assert np.array_equal(np.asarray(image), REFERENCE)


def test_png_base64_rejects_other_shapes():
    with pytest.raises(ValueError, match="28x28"):
        png_base64(np.zeros((20, 20), np.uint8))


@pytest.mark.parametrize("size", [(10_000, 1), (1, 10_000), (1, 1), (2, 2), (3, 1), (10_000, 10), (7, 3000)])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_extreme_shapes_give_a_digit_or_an_image_error(size, fmt):
    rng = np.random.default_rng(sum(size))
    pixels = rng.integers(0, 256, size[::-1], dtype=np.uint8)
    try:
        out = read_digit(encode(Image.fromarray(pixels), fmt), max_pixels=MAX_PIXELS)
    except ImageError:
        return
    assert out.shape == (28, 28)
    assert out.dtype == np.uint8
