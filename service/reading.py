"""A line of handwritten digits -> one MNIST-format 28x28 per digit, left to right, with its box.

    decode (service.images, a long line kept legible) -> ink map (the same as /predict's)
    -> strong ink, specks removed -> connected components (8-connected)
    -> groups: parts that overlap across the line's direction are one digit (the bar of a 5, a broken
       4, a dotted stroke); small parts join the nearest group close by; lone small specks are dropped
    -> a group wider than a digit may be several that touch: cut points are tried (valleys of the ink
       profile and an even grid), every piece is read by the model, and the split whose pieces the
       model is most sure of (sum of log-confidence, each cut paying CUT_PENALTY) is kept
    -> each digit through ``images.layout`` (slant, 20-px box, centre of mass).

One digit found: its pixels are exactly /predict's (``images.read_digit`` on the same bytes), so the
two routes give it the same probabilities. The model is a parameter (``score``: uint8 [N, 28, 28] ->
probabilities [N, 10]) so this module needs no session and the route counts only the answers it serves.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import cc3d
import numpy as np
from PIL import Image

from service import images

MAX_DIGITS = 32  # most digits one /read answers (422 above): a long number, never a page of text
SPECK_HEIGHT = 0.25  # parts lower than this share of the line's height ...
SPECK_AREA = 0.05  # ... and holding less than this share of the mean digit's ink are specks ...
JOIN_GAP = 0.15  # ... unless a digit lies within this share of the line's height: then they are part of it;
# and two groups this close side by side may be one digit in two parts (the model decides)
OVERLAP = 0.5  # parts whose horizontal extents overlap by this share of the narrower one are one digit
SPLIT_WIDTH = 0.75  # groups wider than this share of the line's height may be touching digits
MIN_PIECE = 0.12  # a piece of a split is at least this share of the line's height wide ...
MAX_PIECE = 0.95  # ... and at most this (tuned: 0.8 broke wide digits apart)
CUT_SPACING = 0.1  # cut points tried lie at least this share of the line's height apart ...
CUTS_PER_HEIGHT = 3  # ... valleys of the ink profile at most this many per line height ...
GRID_STEP = 0.25  # ... and an even grid this fine where no valley lies near
CUT_PENALTY = 0.1  # log-confidence a cut inside a group must gain (tuned on a separate seed, see bench/)
SHORT = 0.6  # a digit spans at least this share of the line's height (MNIST's all do) ...
SHORT_PENALTY = 1.0  # ... a piece lower than that pays this (a part of a digit, not one)
WIDE = 1.1  # a digit is at most about as wide as the line is high (MNIST: 90% of them) ...
CUT_WIDE = 0.75  # ... and a piece cut from touching digits this (MNIST's median is 0.8 of the box)
WIDE_PENALTY = 2.0  # ... a piece pays this per line height beyond that (touching digits read as one)
FRAGMENT = 0.15  # a cut piece drops its parts under this share of its largest one (the neighbour's bits)
JOIN_PENALTY = 0.35  # log-confidence joining two groups side by side must gain (free where they overlap)
Score = Callable[[np.ndarray], np.ndarray]


class TooManyDigits(images.ImageError):
    """More digits than MAX_DIGITS in one picture."""


@dataclass(frozen=True)
class Digit:
    pixels: np.ndarray  # uint8 [28, 28], MNIST format
    box: tuple[int, int, int, int]  # x, y, width, height in the picture's pixels as sent (after EXIF)


@dataclass
class _Group:
    left: int
    top: int
    right: int
    bottom: int
    labels: list[int]  # component ids
    area: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def whole(self) -> Unit:
        return (self, self.left, self.right)

    def absorb(self, other: _Group) -> None:
        self.left, self.top = min(self.left, other.left), min(self.top, other.top)
        self.right, self.bottom = max(self.right, other.right), max(self.bottom, other.bottom)
        self.labels += other.labels
        self.area += other.area


def read_line(
    data: bytes,
    *,
    max_pixels: int,
    score: Score,
    max_full_decode_pixels: int | None = None,
    max_digits: int = MAX_DIGITS,
) -> list[Digit]:
    """The digits of a picture of one line of them, left to right. Raises images.ImageError (NoInk for a
    blank picture, TooManyDigits above ``max_digits``)."""
    image, scale = images.decode_scaled(
        data, max_pixels=max_pixels, max_full_decode_pixels=max_full_decode_pixels, line=True
    )
    ink, noisy = images.ink_map(image)
    strong = np.asarray(images.strong_ink(ink, despeckle=noisy)) > 0
    if np.count_nonzero(strong) < images.MIN_INK_PIXELS:
        raise images.NoInk("the image has no ink: only faint marks or specks of noise were found")
    components, count = cc3d.connected_components(strong, connectivity=8, return_N=True)
    groups = _groups(components, count)
    if len(groups) > max_digits:
        raise TooManyDigits(
            f"the picture holds {len(groups)} or more digits; /read reads at most {max_digits}"
        )
    pieces = _segment(ink, components, groups, score)
    if len(pieces) > max_digits:
        raise TooManyDigits(f"the picture holds {len(pieces)} digits; /read reads at most {max_digits}")
    if len(pieces) == 1 and len(groups) == 1 and pieces[0] == [groups[0].whole()]:
        # One digit: exactly what /predict sees.
        return [Digit(images.read_digit(data, max_pixels=max_pixels), _box(groups[0], scale))]
    digits = []
    for units in pieces:
        piece, where = _piece(ink, components, units)
        digits.append(Digit(images.layout(piece, (0, 0, piece.width, piece.height)), _box(where, scale)))
    return digits


def _groups(components: np.ndarray, count: int) -> list[_Group]:
    """Components -> digits: overlapping parts merged, small parts joined to a close digit or dropped."""
    stats = cc3d.statistics(components)
    parts = []
    for label in range(1, count + 1):
        rows, cols = stats["bounding_boxes"][label]
        parts.append(
            _Group(cols.start, rows.start, cols.stop, rows.stop, [label], int(stats["voxel_counts"][label]))
        )
    parts.sort(key=lambda part: part.left)
    merged: list[_Group] = []
    for part in parts:  # sorted by left edge: overlap with the last group is the only one possible...
        for group in reversed(merged[-3:]):  # ...nearly: a wide group may cover the next few
            shared = min(group.right, part.right) - max(group.left, part.left)
            if shared >= OVERLAP * min(group.width, part.width):
                group.absorb(part)
                break
        else:
            merged.append(part)
    height = _line_height(merged)
    big = [group for group in merged if not _small(group, merged, height)]
    if not big:
        big = [max(merged, key=lambda group: group.area)]
    for group in merged:
        if group in big:
            continue
        nearest = min(big, key=lambda other: _gap(group, other))
        if _gap(group, nearest) <= JOIN_GAP * height:
            nearest.absorb(group)
    return sorted(big, key=lambda group: group.left)


def _line_height(groups: list[_Group]) -> float:
    """The height of the line's digits: the median of those at least half as tall as the tallest."""
    tallest = max(group.height for group in groups)
    return float(np.median([group.height for group in groups if group.height >= tallest / 2]))


def _small(group: _Group, groups: list[_Group], height: float) -> bool:
    mean_area = sum(other.area for other in groups) / len(groups)
    return group.height < SPECK_HEIGHT * height or group.area < SPECK_AREA * mean_area


def _gap(a: _Group, b: _Group) -> float:
    """Distance between two boxes (0 when they overlap)."""
    dx = max(a.left - b.right, b.left - a.right, 0)
    dy = max(a.top - b.bottom, b.top - a.bottom, 0)
    return math.hypot(dx, dy)


Unit = tuple["_Group", int, int]  # a group's ink in columns left..right of the ink map


def _piece(ink: Image.Image, components: np.ndarray, units: list[Unit]) -> tuple[Image.Image, _Group]:
    """Units' own ink (not their neighbours'), as an ink-map crop to its ink, and where that crop lies."""
    left, right = min(u[1] for u in units), max(u[2] for u in units)
    top, bottom = min(u[0].top for u in units), max(u[0].bottom for u in units)
    mine = np.zeros((bottom - top, right - left), bool)
    for group, a, b in units:
        mine[:, a - left : b - left] |= np.isin(components[top:bottom, a:b], group.labels)
    if units[0][1] != units[0][0].left or units[-1][2] != units[-1][0].right:
        # A cut piece: bits of the neighbour cut off with it are not part of this digit.
        parts, count = cc3d.connected_components(mine, connectivity=8, return_N=True)
        if count > 1:
            areas = np.bincount(parts.ravel())[1:]
            mine = np.isin(parts, 1 + np.flatnonzero(areas >= FRAGMENT * areas.max()))
    # Keep the faint anti-aliased rim too: grow the mask of strong ink by one pixel each way.
    grown = mine.copy()
    grown[1:] |= mine[:-1]
    grown[:-1] |= mine[1:]
    grown[:, 1:] |= grown[:, :-1]
    grown[:, :-1] |= grown[:, 1:]
    crop = np.where(grown, np.asarray(ink)[top:bottom, left:right], 0).astype(np.uint8)
    rows, cols = np.nonzero(mine)
    if rows.size == 0:
        return Image.fromarray(crop), _Group(left, top, right, bottom, [], 0)
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    return Image.fromarray(crop[y0:y1, x0:x1]), _Group(left + x0, top + y0, left + x1, top + y1, [], 0)


def _segment(
    ink: Image.Image, components: np.ndarray, groups: list[_Group], score: Score
) -> list[list[Unit]]:
    """The digits of the line, each a list of units: the groups as found, unless the model is surer of
    a split (touching digits: each cut pays CUT_PENALTY) or of a join (a digit in two parts side by
    side: each join pays JOIN_PENALTY). Dynamic programming over the units, left to right."""
    height = _line_height(groups)
    units: list[Unit] = []
    for group in groups:
        edges = [group.left]
        if group.width >= SPLIT_WIDTH * height:
            edges += _cut_candidates(components, group, height)
        edges.append(group.right)
        units += [(group, a, b) for a, b in itertools.pairwise(edges)]
    n = len(units)
    crossing = [units[k][0] is not units[k + 1][0] for k in range(n - 1)]  # from one group to the next
    overlapping = [c and units[k + 1][0].left < units[k][0].right for k, c in enumerate(crossing)]
    joinable = [
        units[k][0] is not units[k + 1][0] and units[k + 1][0].left - units[k][0].right <= JOIN_GAP * height
        for k in range(n - 1)
    ]
    if n == len(groups) and not any(joinable):
        return [[unit] for unit in units]
    spans: list[tuple[int, int, float, bool]] = []  # first unit, stop, penalty, whole groups
    for i in range(n):
        for j in range(i + 1, n + 1):
            part = units[i:j]
            first, last = part[0], part[-1]
            joins = sum(crossing[k] and not overlapping[k] for k in range(i, j - 1))
            if any(crossing[k] and not joinable[k] for k in range(i, j - 1)):
                break
            starts, ends = first[1] == first[0].left, last[2] == last[0].right
            width = last[2] - first[1]
            if (joins == 0 and starts and ends) or (
                MIN_PIECE * height <= width <= MAX_PIECE * height and (joins == 0 or (starts and ends))
            ):
                spans.append((i, j, JOIN_PENALTY * joins + (0.0 if starts else CUT_PENALTY), starts and ends))
            elif width > MAX_PIECE * height and ends:  # only wider from here on
                break
    batch, short = [], []
    for i, j, _, whole in spans:
        piece, where = _piece(ink, components, units[i:j])
        try:
            batch.append(images.layout(piece, (0, 0, piece.width, piece.height)))
        except images.NoInk:  # a cut through empty columns: a blank field, which nothing chooses
            batch.append(np.zeros((28, 28), np.uint8))
            where = _Group(0, 0, 0, 0, [], 0)
        low = SHORT_PENALTY if where.height < SHORT * height else 0.0
        wide = WIDE if whole else CUT_WIDE
        short.append(low + WIDE_PENALTY * max(0.0, where.width / height - wide))
    confidence = score(np.stack(batch)).max(axis=1)
    confidence[[not b.any() for b in batch]] = 0.0
    best: list[tuple[float, list[int]]] = [(0.0, [0])] + [(-math.inf, [])] * n
    ranked = sorted(zip(spans, confidence, short, strict=True), key=lambda item: item[0][1])
    for (i, j, penalty, _), value, low in ranked:
        total = best[i][0] + math.log(max(float(value), 1e-9)) - penalty - low
        if best[i][0] > -math.inf and total > best[j][0]:
            best[j] = (total, [*best[i][1], j])
    path = best[n][1] if best[n][0] > -math.inf else list(range(n + 1))
    return [units[a:b] for a, b in itertools.pairwise(path)]


def _cut_candidates(components: np.ndarray, group: _Group, height: float) -> list[int]:
    """Columns where touching digits may meet: valleys of the group's ink profile, then an even grid."""
    mine = np.isin(components[group.top : group.bottom, group.left : group.right], group.labels)
    profile = mine.sum(axis=0).astype(np.float32)
    margin = max(1, round(MIN_PIECE * height))
    if group.width <= 2 * margin:
        return []
    kernel = np.ones(3, np.float32) / 3
    smooth = np.convolve(profile, kernel, mode="same")
    inner = np.arange(margin, group.width - margin)
    after = smooth[np.minimum(inner + 1, group.width - 1)]
    valleys = [int(x) for x in inner[(smooth[inner] <= smooth[inner - 1]) & (smooth[inner] <= after)]]
    valleys.sort(key=lambda x: smooth[x])
    chosen: list[int] = []
    spacing = max(2, round(CUT_SPACING * height))
    for x in valleys:  # deepest first
        room = len(chosen) < CUTS_PER_HEIGHT * group.width / height
        if room and all(abs(x - other) >= spacing for other in chosen):
            chosen.append(x)
    step = max(spacing, round(GRID_STEP * height))  # and wherever no valley lies close: an even grid
    for x in range(margin, group.width - margin, step):
        if all(abs(x - other) >= step // 2 for other in chosen):
            chosen.append(x)
    return sorted(group.left + x for x in chosen)


def _box(group: _Group, scale: float) -> tuple[int, int, int, int]:
    """A box in the ink map's pixels -> x, y, width, height in the picture's pixels as sent."""
    left, top = math.floor(group.left * scale), math.floor(group.top * scale)
    return left, top, math.ceil(group.right * scale) - left, math.ceil(group.bottom * scale) - top
