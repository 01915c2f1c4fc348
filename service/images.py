"""Real users' pictures -> MNIST format: the one preprocessing the service applies to an image.

MNIST digits are white on black, anti-aliased, scaled so the longer side of the ink's bounding box is
20 px (aspect kept) and placed in a 28x28 field with the centre of mass at the centre. A picture as a
person sends it (a paper photo, a canvas export with a transparent background, a JPEG, a printed digit)
is brought to exactly that form here, so the model sees what it was trained on:

    decode (size checked before pixels are read; JPEGs decoded at reduced scale; EXIF orientation)
    -> ink map 0..255 (alpha when a canvas export's colour is uniform, else luminance with
       polarity detected, uneven lighting flattened, paper noise cut off, stroke levels stretched)
    -> crop to the ink's bounding box -> longer side 20 px (strokes thinner than nearly all of
       MNIST's, a fine pen on a big photo, thickened to MNIST's width instead of fading to gray)
    -> 28x28 with the centre of mass at the centre (integer shift, as MNIST).

Pillow and numpy only, no per-pixel Python: this runs on every request.
"""

from __future__ import annotations

import base64
import io
import math
import warnings

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from contract import IMAGE_SIZE

# Config: MNIST geometry, then the knobs of the ink detection.
BOX_SIZE = 20  # MNIST: the longer side of the ink's bounding box
CENTRE = IMAGE_SIZE // 2  # MNIST's centres of mass (row, column index) are 14.0 +- 0.3 (measured: test set)
WORK_SIZE = 512  # larger pictures are reduced (by integer factors) to at most this longer side first
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")  # JPEG includes camera MPO files
UNIFORM_COLOUR_SPREAD = 48  # visible pixels of a transparent image within this gray range: alpha is the ink
BLOCK_FILL = 0.6  # visible pixels filling this much of their bounding box are a picture, not strokes
MIN_CONTRAST = 0.05  # ink must stand this far (of full scale) above the paper noise floor: the floor
# already refuses noise; this only keeps a faint smudge from counting (0.12 refused clean faint digits)
MIN_INK_PIXELS = 2  # fewer strong-ink pixels than this (after speck removal) is a blank picture
NOISE_SIGMAS = 4.0  # paper noise floor = median + this many robust sigmas of the background
BLOCKS = 8  # the lighting is estimated on a BLOCKS x BLOCKS grid (pictures of at least SMALL px)
STRONG_INK = 64  # the bounding box is that of pixels at least this bright (of 255)
SPECK_GAP = 0.05  # ink parts this far (of the picture's longer side) from the rest and ...
SPECK_MASS = 0.02  # ... holding less than this share of the ink are dirt, not digit (photos only)
THUMB = 48  # a sheet of paper on a table is looked for on a thumbnail this large
SHEET_EDGE = 0.25  # the table runs along at least this share of the frame's edge ...
SHEET_AREA = 0.3  # ... the sheet covers at least this share of the picture ...
SHEET_PAPER = 0.85  # ... of which at least this share is paper ...
SHEET_CONTRAST = 0.3  # ... this much brighter than the table (of full scale)
SMALL = 64  # below this shorter side: no lighting flattening, no speck removal (nothing to average)
STROKE_MIN = 1.0  # px at the 20-px box: thinner strokes are thickened (MNIST's 1st percentile: 1.0)
STROKE_TARGET = 2.2  # px at the 20-px box, before resampling: comes out as wide as a marker's (~1.7)
DETAIL = 4  # thin strokes are corrected at about DETAIL x the 20-px box
MAX_GROW = 15  # the largest dilation (px at that scale)
BORDER = 0.05  # the paper's colour is read from this outer fraction of each side
LINE_FILL = 0.6  # a row (column) inked this much of its length is part of a ruled or graph line ...
LINE_WIDTH = 0.02  # ... if the line is at most this thick (of the shorter side; 2 px at least)
SLANT_RANGE = (-0.53, 0.32)  # MNIST's slants (x shift per row), 5th..95th percentile of the test set
DESKEW = True
SLANT_DETAIL = 64  # the slant is measured on the ink reduced to about this many px
LINE_MAX_ASPECT = 8  # decode_scaled(line=True): up to this many times WORK_SIZE along a line of digits
MIN_ALPHA = 0.12  # a canvas export's strokes must be at least this opaque

Box = tuple[int, int, int, int]  # left, top, right, bottom (Pillow's order)

# Lookup tables for Image.point (thresholds applied in C).
_STRONG = [255 if value >= STRONG_INK else 0 for value in range(256)]
_VISIBLE = [255 if value >= 128 else 0 for value in range(256)]  # alpha -> mask of what one sees
_ANY = [255 if value > 0 else 0 for value in range(256)]
_MAJORITY = [255 if value >= 128 else 0 for value in range(256)]  # 5 of 9 neighbours set, after BoxBlur(1)


class ImageError(ValueError):
    """A picture the service cannot read as a digit; the message says why."""

    status_code: int = 422


class UnreadableImage(ImageError):  # noqa: N818 (names agreed in the service interfaces)
    """Not an image, corrupt, truncated, or a format that is not accepted."""


class ImageTooLarge(ImageError):  # noqa: N818
    """The declared pixel count is over the limit (found from the header, before decoding)."""

    status_code = 413


class NoInk(ImageError):  # noqa: N818
    """The picture is blank: nothing stands out from the background."""


def decode_image(data: bytes, *, max_pixels: int, max_full_decode_pixels: int | None = None) -> Image.Image:
    """Bytes -> a loaded image: frame 0, EXIF orientation applied, at most ~WORK_SIZE on its longer side."""
    return decode_scaled(data, max_pixels=max_pixels, max_full_decode_pixels=max_full_decode_pixels)[0]


def decode_scaled(
    data: bytes, *, max_pixels: int, max_full_decode_pixels: int | None = None, line: bool = False
) -> tuple[Image.Image, float]:
    """As decode_image, and the scale from the image's pixels to the picture's as sent (after EXIF).

    ``line``: a line of digits keeps WORK_SIZE per picture height (up to LINE_MAX_ASPECT times as
    wide), so a long number is not shrunk to specks; a picture as tall as it is wide decodes the same.

    The size is checked from the header before any pixel data is decoded (``Image.open`` is lazy),
    so a small file declaring huge dimensions costs nothing. Big baseline JPEGs (what cameras write)
    are decoded at 1/2..1/8 scale by libjpeg itself (``draft``): they may have up to ``max_pixels``.
    Everything else is decoded at full size first, costing memory and time per pixel (a progressive
    JPEG keeps all its coefficients; bench/decode_limits.py measures each format), so it may have at
    most ``max_full_decode_pixels`` (default: ``max_pixels``); it is then reduced by an integer factor:
    the MNIST conversion needs no more than WORK_SIZE pixels per side.
    """
    if not data:
        raise UnreadableImage("the image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # Pillow warns from 89 MP on; the limits below decide instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"the image is too large: {error}") from None
    except Image.UnidentifiedImageError:
        raise UnreadableImage(
            f"not a readable image: the accepted formats are {', '.join(FORMATS)}"
        ) from None
    except Exception as error:  # Pillow's plugins raise many kinds; all mean "not an image we read"
        raise UnreadableImage(f"not a readable image: {_reason(error)}") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise UnreadableImage(f"the image declares an empty size {width}x{height}")
    reduced_scale = image.format in ("JPEG", "MPO") and not image.info.get("progressive")
    work = WORK_SIZE
    if line:
        work = round(WORK_SIZE * min(max(width, height) / min(width, height), LINE_MAX_ASPECT))
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is too large: {width}x{height} = {width * height} pixels, the limit is {max_pixels}"
        )
    full_limit = min(max_pixels, max_full_decode_pixels or max_pixels)
    if not reduced_scale and width * height > full_limit:
        kind = "a progressive JPEG" if image.format in ("JPEG", "MPO") else f"a {image.format}"
        raise ImageTooLarge(
            f"the image is too large: {width}x{height} = {width * height} pixels; {kind} is decoded at "
            f"full size, the limit for that is {full_limit} (baseline JPEGs, decoded at reduced scale, "
            f"may have {max_pixels})"
        )
    try:
        if reduced_scale and max(width, height) > work:
            scale = work / max(width, height)
            image.draft("L", (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
        image.load()  # frame 0 of an animation; raises on truncated or corrupt data
        ImageOps.exif_transpose(image, in_place=True)
        sent = max(width, height)  # the longer side as sent (EXIF orientation only swaps the sides)
        factor = math.ceil(max(image.size) / work)
        if factor > 1:
            image = _reduce(image, factor)
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"the image is too large: {error}") from None
    except Exception as error:
        raise UnreadableImage(f"the image data is corrupt or truncated: {_reason(error)}") from None
    return image, sent / max(image.size)


def looks_like_image(data: bytes) -> bool:
    """Whether ``data`` starts like a picture in one of FORMATS (Pillow reads the header, no pixels).

    For bodies that do not say what they are (``application/octet-stream``, no content type): a picture
    is read, anything else is not an image at all.
    """
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS):
            return True
    except Image.DecompressionBombError:
        return True  # an image, too large: decoding says so (413)
    except Exception:  # UnidentifiedImageError and the plugins' own header errors
        return False


def _reduce(image: Image.Image, factor: int) -> Image.Image:
    """Shrink by an integer factor with a box average: cheap and anti-aliased, in any mode."""
    if image.mode in ("1", "P", "PA"):  # bits and palette indices do not average: expand first
        image = image.convert(
            "RGBA" if image.has_transparency_data else ("L" if image.mode == "1" else "RGB")
        )
    elif image.mode.startswith("I;16"):  # Image.reduce has no 16-bit modes; keep the bit depth
        values = np.asarray(image, dtype=np.uint32)
        height, width = values.shape[0] // factor * factor, values.shape[1] // factor * factor
        blocks = values[:height, :width].reshape(height // factor, factor, width // factor, factor)
        return Image.fromarray((blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint16))
    return image.reduce(factor)


def to_mnist(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> uint8 [28, 28], white digit on black, MNIST-style. Raises NoInk if blank."""
    ink, noisy = ink_map(image)
    return _mnist_layout(ink, despeckle=noisy)


def ink_map(image: Image.Image) -> tuple[Image.Image, bool]:
    """Any Pillow image -> (ink map "L" of the same size: ink 255, paper 0, lines of ruled paper gone;
    whether it may hold specks of noise (a photo, not a canvas export)). Raises NoInk if blank."""
    if image.width < 1 or image.height < 1:
        raise NoInk(f"the image has no ink: it is empty ({image.width}x{image.height})")
    return _ink_map(image)


def layout(ink: Image.Image, box: Box) -> np.ndarray:
    """The ink inside ``box`` of an ink map -> uint8 [28, 28] the way MNIST was made (slant, 20-px box,
    centre of mass): what to_mnist does once it has found the digit's box."""
    if DESKEW:
        ink, box = _deskew(ink, box)
    digit = np.asarray(_fit_box(ink, box), dtype=np.float32)
    mass = float(digit.sum())
    if mass <= 0:
        raise NoInk("the image has no ink: the strokes vanish at MNIST size")
    rows = np.arange(digit.shape[0], dtype=np.float32)
    cols = np.arange(digit.shape[1], dtype=np.float32)
    centre_y = float(digit.sum(axis=1) @ rows) / mass
    centre_x = float(digit.sum(axis=0) @ cols) / mass
    # Integer shift (as MNIST: its centres of mass lie within half a pixel of 14), kept inside the field.
    offset_y = min(max(round(CENTRE - centre_y), 0), IMAGE_SIZE - digit.shape[0])
    offset_x = min(max(round(CENTRE - centre_x), 0), IMAGE_SIZE - digit.shape[1])
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    out[offset_y : offset_y + digit.shape[0], offset_x : offset_x + digit.shape[1]] = np.clip(digit, 0, 255)
    return out


def read_digit(data: bytes, *, max_pixels: int, max_full_decode_pixels: int | None = None) -> np.ndarray:
    """Bytes of a picture as a person sends it -> MNIST-format uint8 [28, 28]."""
    return to_mnist(decode_image(data, max_pixels=max_pixels, max_full_decode_pixels=max_full_decode_pixels))


def check_pixels(pixels: np.ndarray) -> None:
    """MNIST-format pixels sent as they are must hold a digit: one value everywhere (all 0, all 255) is
    as blank as a blank picture and gets the same NoInk, not a confident guess."""
    if float(pixels.max()) == float(pixels.min()):
        raise NoInk(f"the pixels have no ink: every one is {float(pixels.flat[0]):g}")


def png_base64(pixels: np.ndarray) -> str:
    """28x28 uint8 -> base64 of a grayscale PNG (no ``data:`` prefix): what the model saw."""
    array = np.asarray(pixels)
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected a {IMAGE_SIZE}x{IMAGE_SIZE} array, got shape {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --- ink map: picture -> "L" image of the same size, ink 255, paper 0 ------------------------------------


def _ink_map(image: Image.Image) -> tuple[Image.Image, bool]:
    """Picture -> (ink map ("L", same size): ink 255, paper 0; whether it may hold specks of noise)."""
    if image.has_transparency_data:
        try:
            if image.mode not in ("RGBA", "LA"):
                image = image.convert("LA" if image.mode in ("L", "1", "La") else "RGBA")
        except ValueError:  # a mode Pillow cannot give an alpha band (e.g. I;16 with tRNS): ignore it
            return _ink_from_gray(_gray(image)), True
        alpha = image.getchannel("A")
        lowest, highest = alpha.getextrema()
        if lowest < 255:
            if highest == 0:
                raise NoInk("the image has no ink: it is fully transparent")
            visible = alpha.point(_VISIBLE if highest >= 128 else _ANY)  # mask of the pixels one sees
            if _uniform_colour(image, visible):
                # A canvas export: strokes of one colour on a transparent background. The alpha is
                # the ink, whatever the stroke colour (black on transparent or white on transparent).
                return _stretch_alpha(alpha), False
            # Content of several colours with transparent parts. If it fills its bounding box (a photo
            # with transparent margins) it is mostly paper, and the transparent parts take the paper's
            # colour; if it is sparse (strokes), they take the colour that contrasts with it.
            gray = np.asarray(image.convert("L"), dtype=np.float32)
            shown = gray[np.asarray(visible) > 0]
            middle = float(np.median(shown))
            left, top, right, bottom = visible.getbbox() or (0, 0, 1, 1)
            if shown.size >= BLOCK_FILL * (right - left) * (bottom - top):
                paper = np.float32(middle)
            else:
                paper = np.float32(255 if middle < 128 else 0)
            weight = np.asarray(alpha, dtype=np.float32) * np.float32(1 / 255)
            return _ink_from_gray((gray * weight + paper * (1 - weight)) * np.float32(1 / 255)), True
        image = image.convert("L")
    return _ink_from_gray(_gray(image)), True


def _uniform_colour(image: Image.Image, mask: Image.Image) -> bool:
    """Whether the pixels under ``mask`` have one colour: 2nd..98th percentile within the spread, per band."""
    bands = np.asarray(image.histogram(mask), dtype=np.int64).reshape(len(image.getbands()), 256)[:-1]
    cumulative = np.cumsum(bands, axis=1)
    total = cumulative[:, -1:]
    low = (cumulative < 0.02 * total).sum(axis=1)
    high = (cumulative < 0.98 * total).sum(axis=1)
    return bool((high - low).max() <= UNIFORM_COLOUR_SPREAD)


def _gray(image: Image.Image) -> np.ndarray:
    """Image of any mode and bit depth -> luminance float32 in [0, 1]."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image, dtype=np.float32) * np.float32(1 / 65535)
    if image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        if image.mode == "F" and low >= 0 and high <= 1:
            return values  # already [0, 1]
        if low >= 0 and high <= 255:
            return values * np.float32(1 / 255)
        if low >= 0 and high <= 65535:
            return values * np.float32(1 / 65535)  # 16-bit data in a 32-bit mode (older PNG decoders)
        return (values - low) * np.float32(1 / (high - low)) if high > low else np.zeros_like(values)
    if image.mode != "L":
        image = image.convert("L")  # 1, P, RGB, CMYK, YCbCr, LAB, ...: Pillow's ITU-R 601 luma
    return np.asarray(image, dtype=np.float32) * np.float32(1 / 255)


def _stretch_alpha(alpha: Image.Image) -> Image.Image:
    """Alpha as ink, stretched so the strokes' cores reach 255 (a pen at 60% opacity still writes)."""
    histogram = np.asarray(alpha.histogram())
    peak = int(np.flatnonzero(histogram)[-1])
    top = _median_level(histogram, peak // 2 + 1, 256)
    if top < MIN_ALPHA * 255:
        raise NoInk(f"the image has no ink: its strokes are almost fully transparent (alpha {top})")
    return alpha if top == 255 else alpha.point(_levels_lut(0, top))


def _ink_from_gray(gray: np.ndarray) -> Image.Image:
    """Luminance in [0, 1] -> uint8 ink map: polarity, lighting, noise floor and stroke level normalized."""
    height, width = gray.shape
    # 2x2 averages: half the noise for the statistics below, a quarter of the pixels to sort.
    smooth = gray
    if min(height, width) >= 8:
        half_h, half_w = height // 2 * 2, width // 2 * 2
        smooth = gray[0:half_h:2, 0:half_w:2] + gray[1:half_h:2, 0:half_w:2]
        smooth += gray[0:half_h:2, 1:half_w:2]
        smooth += gray[1:half_h:2, 1:half_w:2]
        smooth *= np.float32(0.25)
    sheet = _sheet(smooth) if min(height, width) >= SMALL else None
    if sheet is not None:  # a sheet of paper lying on something darker: that is paper too, not ink
        inside, level = sheet
        outside = np.asarray(Image.fromarray(inside).resize((width, height), Image.Resampling.NEAREST)) == 0
        gray = gray.copy()
        gray[outside] = level
        smooth = smooth.copy()
        smooth[~inside.astype(bool)] = level
    # The paper's colour, from the border. On a small picture from the full-resolution one: where ink
    # touches the frame (a tight crop), 2x2 averages of a 1-px border are mostly part ink.
    paper = float(np.median(_border(gray if min(height, width) < SMALL else smooth)))
    # Polarity: the ink is whichever extreme lies farther from the paper's colour.
    dark_ink = paper - float(smooth.min()) > float(smooth.max()) - paper
    raw = np.float32(1) - gray if dark_ink else gray
    if min(height, width) < SMALL:  # too small to see the lighting vary: the border's level
        background = np.float32(np.median(_border(raw)))
    else:
        background = _background(np.float32(1) - smooth if dark_ink else smooth, (width, height))
    # Flat-field: the ink's contrast relative to the paper under it (uneven light divides out).
    ink = (raw - background) / np.maximum(np.float32(1) - background, np.float32(1e-3))
    array = (np.clip(ink, 0, 1, out=ink) * np.float32(255) + np.float32(0.5)).astype(np.uint8)
    levels = Image.fromarray(array)
    histogram = np.asarray(levels.histogram())
    threshold = _otsu(histogram)
    if min(height, width) >= SMALL and _remove_lines(array, threshold):  # ruled or graph paper
        levels = Image.fromarray(array)
        histogram = np.asarray(levels.histogram())
        threshold = _otsu(histogram)
    if not histogram[threshold + 1 :].any():
        raise NoInk("the image has no ink: it is a uniform colour")
    # Paper noise floor: median + NOISE_SIGMAS robust sigmas (MAD) of the levels below Otsu's threshold;
    # stroke level: the median of those above it. Between them the anti-aliased grays are kept.
    middle = _median_level(histogram, 0, threshold + 1)
    deviation = np.abs(np.arange(threshold + 1) - middle)
    order = np.argsort(deviation, kind="stable")
    cumulative = np.cumsum(histogram[: threshold + 1][order])
    mad = float(deviation[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    floor = middle + NOISE_SIGMAS * 1.4826 * mad
    top = _median_level(histogram, threshold + 1, 256)
    if top - floor < MIN_CONTRAST * 255:
        raise NoInk(
            "the image has no ink: nothing stands out from the background "
            f"(contrast {max(top - floor, 0) / 255:.2f}, needs {MIN_CONTRAST})"
        )
    return levels.point(_levels_lut(floor, top))


def _remove_lines(levels: np.ndarray, threshold: int) -> bool:
    """Erase, in place, thin straight lines that run across the picture (ruled or graph paper) from an
    ink map; True if there were any. A stroke crossing a line is bridged over it (where the ink above
    and below the line continues), so the digit is not cut in two.

    A line: consecutive rows (columns) at least LINE_FILL inked across, together at most LINE_WIDTH of
    the picture's shorter side thick. Digits do not do that: even a tight crop's bar of a 7 is thicker.
    Lines tilted more than about a pixel across the picture are not found.
    """
    mask = levels > threshold // 2  # printed lines are often fainter than the pen: Otsu may split them off
    found = False
    for axis in (0, 1):  # 0: horizontal lines (rows), 1: vertical lines (columns)
        view = levels if axis == 0 else levels.T
        filled = np.flatnonzero(np.count_nonzero(mask, axis=1 - axis) >= LINE_FILL * view.shape[1])
        if filled.size == 0:
            continue
        thin = max(2, round(LINE_WIDTH * min(levels.shape)))
        breaks = np.flatnonzero(np.diff(filled) > 1)
        for start, stop in zip(
            filled[np.concatenate(([0], breaks + 1))], filled[np.concatenate((breaks, [-1]))] + 1, strict=True
        ):
            if stop - start > thin:
                continue
            start, stop = max(start - 1, 0), min(stop + 1, view.shape[0])  # and the anti-aliased edges
            above = view[start - 1] if start > 0 else np.zeros_like(view[0])
            below = view[stop] if stop < view.shape[0] else np.zeros_like(view[0])
            view[start:stop] = np.minimum(above, below)  # bridge the strokes that cross the line
            found = True
    return found


def _sheet(gray: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Find a sheet of paper photographed lying on a darker table: (uint8 mask of the sheet at the
    size of ``gray``, eroded a little; the paper's level), or None if the picture is not that.

    On a thumbnail, the dark pixels connected to the frame's edge are the table; the rest is the
    sheet (the digit on it is enclosed, so it stays). It counts only if the table runs along much of
    the edge, the sheet is large, nearly all paper, much brighter than the table, and has ink on it
    (a white digit on black fails the last three).
    """
    height, width = gray.shape
    scale = THUMB / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    thumb = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))
    levels = (np.clip(thumb, 0, 1) * 255).astype(np.uint8)
    bright = levels > _otsu(np.bincount(levels.ravel(), minlength=256))
    dark = ~bright
    table = np.zeros_like(dark)
    table[[0, -1], :] = dark[[0, -1], :]
    table[:, [0, -1]] |= dark[:, [0, -1]]
    edge = np.concatenate((dark[0], dark[-1], dark[1:-1, 0], dark[1:-1, -1]))
    if edge.mean() < SHEET_EDGE:
        return None
    while True:  # grow the table through dark pixels (geodesic dilation, 8-connected)
        grown = table.copy()
        grown[1:] |= table[:-1]
        grown[:-1] |= table[1:]
        grown[:, 1:] |= grown[:, :-1]
        grown[:, :-1] |= grown[:, 1:]
        grown &= dark
        if np.array_equal(grown, table):
            break
        table = grown
    sheet = ~table
    if sheet.mean() < SHEET_AREA or bright[sheet].mean() < SHEET_PAPER:
        return None
    paper, floor = float(np.median(thumb[sheet & bright])), float(np.median(thumb[table]))
    if paper - floor < SHEET_CONTRAST:
        return None
    inner = sheet.copy()  # erode by two thumbnail pixels, from the frame too: edges are part table
    for _ in range(2):
        eroded = inner.copy()
        eroded[1:] &= inner[:-1]
        eroded[:-1] &= inner[1:]
        eroded[:, 1:] &= inner[:, :-1]
        eroded[:, :-1] &= inner[:, 1:]
        eroded[[0, -1], :] = False
        eroded[:, [0, -1]] = False
        inner = eroded
    full = np.asarray(Image.fromarray(inner.astype(np.uint8) * 255).resize((width, height)))
    if not (gray[full > 0] < paper - SHEET_CONTRAST).any():
        return None  # nothing written on it: not a sheet with a digit (e.g. a bold white digit)
    return full, paper


def _background(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The background level under the ink (ink bright), smooth across the picture: uneven lighting."""
    height, width = raw.shape
    # Per block, the 25th percentile (the ink covers less than 3/4 of a block), then each block
    # takes the lowest of its 3x3 neighbourhood (a block filled by a thick stroke borrows its
    # neighbours' paper), then bilinear interpolation back to full size.
    bh, bw = height // BLOCKS, width // BLOCKS
    blocks = raw[: bh * BLOCKS, : bw * BLOCKS].reshape(BLOCKS, bh, BLOCKS, bw).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(BLOCKS, BLOCKS, bh * bw)
    quarter = bh * bw // 4
    grid = np.partition(blocks, quarter, axis=2)[:, :, quarter].astype(np.float32)
    padded = np.pad(grid, 1, mode="edge")
    grid = np.min([padded[i : i + BLOCKS, j : j + BLOCKS] for i in range(3) for j in range(3)], axis=0)
    return np.asarray(Image.fromarray(grid).resize(size, Image.Resampling.BILINEAR))


def _border(array: np.ndarray) -> np.ndarray:
    """The outer BORDER fraction of each side: where the paper shows."""
    ring = max(1, round(BORDER * min(array.shape)))
    parts = (array[:ring], array[-ring:], array[ring:-ring, :ring], array[ring:-ring, -ring:])
    return np.concatenate([part.ravel() for part in parts])


def _otsu(histogram: np.ndarray) -> int:
    """Otsu's threshold level (values <= it are paper) of a 256-bin histogram."""
    counts = histogram.astype(np.float64)
    weight0 = np.cumsum(counts)
    weight1 = weight0[-1] - weight0
    sum0 = np.cumsum(counts * np.arange(256))
    mean0 = sum0 / np.maximum(weight0, 1)
    mean1 = (sum0[-1] - sum0) / np.maximum(weight1, 1)
    return int(np.argmax((weight0 * weight1 * (mean0 - mean1) ** 2)[:-1]))


def _median_level(histogram: np.ndarray, start: int, stop: int) -> int:
    """The median level among histogram bins start..stop-1 (start if they are empty)."""
    cumulative = np.cumsum(histogram[start:stop])
    if cumulative.size == 0 or cumulative[-1] == 0:
        return start
    return start + int(np.searchsorted(cumulative, cumulative[-1] / 2))


def _levels_lut(floor: float, top: float) -> list[int]:
    """Lookup table for Image.point: levels <= floor -> 0, >= top -> 255, linear between."""
    scale = 255 / max(top - floor, 1e-6)
    return np.clip((np.arange(256) - floor) * scale + 0.5, 0, 255).astype(np.uint8).tolist()


# --- layout: ink map -> 28x28 the way MNIST was made ----------------------------------------------------


def strong_ink(ink: Image.Image, *, despeckle: bool) -> Image.Image:
    """The pixels that locate a digit (255): ink at least STRONG_INK (faint haze ignored), and on a
    photo at least SMALL px across, specks removed by a 3x3 majority (a binary median, cheaper)."""
    strong = ink.point(_STRONG)
    if despeckle and min(ink.size) >= SMALL:
        strong = strong.filter(ImageFilter.BoxBlur(1)).point(_MAJORITY)
    return strong


def _mnist_layout(pixels: Image.Image, *, despeckle: bool = True) -> np.ndarray:
    """Crop to the ink's bounding box, longer side to 20 px, centre of mass to the centre of 28x28."""
    strong = strong_ink(pixels, despeckle=despeckle)
    box = strong.getbbox()
    if box is None or strong.histogram()[255] < MIN_INK_PIXELS:
        raise NoInk("the image has no ink: only faint marks or specks of noise were found")
    if despeckle and min(pixels.size) >= SMALL:  # and dots of dirt away from the digit
        mask = np.asarray(strong, dtype=bool)
        gap = max(2, round(SPECK_GAP * max(pixels.size)))
        top, bottom = _main_extent(mask.sum(axis=1), gap)
        left, right = _main_extent(mask.sum(axis=0), gap)
        box = (left, top, right, bottom)
    return layout(pixels, box)


def _deskew(pixels: Image.Image, box: Box) -> tuple[Image.Image, Box]:
    """Shear the ink in ``box`` so its slant (second moments: x shift per row) lies within MNIST's range."""
    left, top, right, bottom = box
    factor = max(1, max(right - left, bottom - top) // SLANT_DETAIL)  # the slant needs no more detail
    crop = np.asarray(pixels.reduce(factor, box=box) if factor > 1 else pixels.crop(box), dtype=np.float32)
    mass = float(crop.sum())
    if mass <= 0:
        return pixels, box
    rows = np.arange(crop.shape[0], dtype=np.float32)[:, None]
    cols = np.arange(crop.shape[1], dtype=np.float32)[None, :]
    centre_y, centre_x = float((crop * rows).sum()) / mass, float((crop * cols).sum()) / mass
    mu02 = float((crop * (rows - centre_y) ** 2).sum())
    if mu02 <= 0:
        return pixels, box
    slant = float((crop * (rows - centre_y) * (cols - centre_x)).sum()) / mu02
    shear = slant - min(max(slant, SLANT_RANGE[0]), SLANT_RANGE[1])
    if abs(shear) < 0.02:
        return pixels, box
    height, width = bottom - top, right - left
    pad = math.ceil(abs(shear) * height / 2) + 1
    source = Image.new("L", (width + 2 * pad, height), 0)
    source.paste(pixels.crop(box), (pad, 0))
    sheared = source.transform(
        source.size,
        Image.Transform.AFFINE,
        (1, shear, -shear * (centre_y + 0.5) * height / crop.shape[0], 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
    )
    return sheared, sheared.point(_STRONG).getbbox() or (0, 0, sheared.width, sheared.height)


def _main_extent(mass: np.ndarray, gap: int) -> tuple[int, int]:
    """Start and stop of the ink along one axis, leaving out small parts (under SPECK_MASS of the ink)
    that lie more than ``gap`` empty rows or columns away from the rest."""
    occupied = np.flatnonzero(mass)
    breaks = np.flatnonzero(np.diff(occupied) > gap)
    starts = np.concatenate(([occupied[0]], occupied[breaks + 1]))
    stops = np.concatenate((occupied[breaks], [occupied[-1]])) + 1
    keep = np.flatnonzero(np.add.reduceat(mass, starts) >= SPECK_MASS * mass.sum())
    return int(starts[keep[0]]), int(stops[keep[-1]])


def _fit_box(pixels: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The ink inside ``box`` scaled so its longer side is BOX_SIZE, its strokes at least MNIST-thin.

    Resampling is anti-aliased like MNIST's: LANCZOS, after a box reduce (reducing_gap) that costs
    far less and changes nothing visible. A fine pen on a big photo would fade to a faint hairline
    at 20 px, unlike anything the model saw: strokes thinner than STROKE_MIN (measured at full
    resolution, in 20-px units) are max-pooled to about DETAIL x the final size, which keeps them
    whole, thickened there to MNIST's median width, and only then resampled.
    """
    left, top, right, bottom = box
    longer = max(right - left, bottom - top)
    crop = np.asarray(pixels)[top:bottom, left:right]
    if _stroke_width(crop) * BOX_SIZE / longer >= STROKE_MIN:
        return _resize(pixels, box, BOX_SIZE / longer)
    factor = max(1, math.ceil(longer / (BOX_SIZE * DETAIL)))
    height, width = -(-crop.shape[0] // factor) * factor, -(-crop.shape[1] // factor) * factor
    padded = np.zeros((height, width), np.uint8)
    padded[: crop.shape[0], : crop.shape[1]] = crop
    pooled = padded.reshape(height // factor, factor, width // factor, factor).max(axis=(1, 3))
    scale = BOX_SIZE / max(pooled.shape)  # 20-px units per pooled pixel
    grow = 2 * round((STROKE_TARGET - _stroke_width(pooled) * scale) / scale / 2) + 1
    thick = Image.fromarray(pooled)
    if grow > 1:
        thick = thick.filter(ImageFilter.MaxFilter(min(grow, MAX_GROW)))
    inner = thick.point(_STRONG).getbbox() or (0, 0, thick.width, thick.height)
    return _resize(thick, inner, BOX_SIZE / max(inner[2] - inner[0], inner[3] - inner[1]))


def _resize(pixels: Image.Image, box: tuple[int, int, int, int], scale: float) -> Image.Image:
    size = (max(1, round((box[2] - box[0]) * scale)), max(1, round((box[3] - box[1]) * scale)))
    return pixels.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _stroke_width(pixels: np.ndarray) -> float:
    """Mean stroke width in pixels: 2 * area / perimeter of the ink (pixels >= 128)."""
    mask = pixels >= 128
    area = int(np.count_nonzero(mask))
    perimeter = int(np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1]))
    perimeter += int(np.count_nonzero(mask[[0, -1]]) + np.count_nonzero(mask[:, [0, -1]]))  # frame edges
    return 2 * area / perimeter if perimeter else 0.0


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
