"""The lesson's line fit: y = a1*x1 + a2*x2 (x2 a column of ones) by mini-batch SGD on the mean squared error.

Why it works on data of any scale, and why the defaults reach the exact least-squares optimum:

1. Standardize. SGD runs on x_s = (x - mean x) / std x and y_s = (y - mean y) / std y (with
   ``fit_intercept=False``: x_s = x / rms x, y_s = y / rms y, no centering, so the line still passes
   through the origin). On the standardized problem the Gram matrix of the design [x_s, 1] is exactly
   the identity: the MSE Hessian is 2*I, perfectly conditioned whatever the units were, so one
   learning rate means the same thing on every data set. The optimum maps back exactly:
   slope = w * std y / std x, intercept = mean y + b * std y - slope * mean x.
2. Mini-batch SGD, then a growing batch. Plain constant-step SGD stalls at a noise floor of size
   ~ lr * (gradient variance) / batch. Instead of decaying the step we grow the batch (Friedlander &
   Schmidt 2012, "Hybrid deterministic-stochastic methods for data fitting"; Smith et al. 2018, "Don't
   decay the learning rate, increase the batch size"). Epoch 1 is textbook shuffled mini-batch SGD at
   the user's batch_size and learning_rate. From epoch 2 on, the batch size is multiplied by
   BATCH_GROWTH (2) after every step until it is the whole set (about two more passes over the data);
   every epoch reshuffles and cuts consecutive batches (while growing, the last one absorbs a
   remainder too small for a batch). From then on it is gradient descent on a perfectly conditioned
   problem, which contracts the distance to the optimum by |1 - 2*lr| per epoch (so 0 < lr < 1
   converges; lr >= 1 does not), down to floating-point round-off. The noise thus dies out
   geometrically, and the cost stays about three shuffles of the data plus O(1) per full-batch epoch.
3. Converged when the full-data gradient norm (in standardized units, where it equals twice the
   distance to the optimum) is at most GRAD_TOL; "max_epochs" if the epochs ran out first;
   "diverged" as soon as the parameters leave a ball of radius DIVERGENCE_BOUND (the optimum lies in
   the unit ball, so this means the loss grew ~1e12-fold) or stop being finite.

Each SGD step is the textbook one, theta -= lr * grad of the batch MSE. For a line, the batch gradient
depends on the batch only through Sum x, Sum y, Sum x^2, Sum x*y and the count, so an epoch computes
every batch's sums in one vectorized pass (shuffle the points' batch labels, then bincount) and then
takes the steps in order on those scalars: the same iterates as looping over batch arrays, at O(n)
numpy work plus O(n / batch) scalar steps per epoch, and O(n) memory. SGD starts from w = b = 0 (slope
0 through the mean of y; through the origin, the line y = 0). The per-epoch loss is the exact
quadratic MSE(theta) = MSE* + (theta - theta*)' G (theta - theta*) with G the (~identity) Gram matrix:
O(1) per epoch, without the cancellation of expanding the sums.

Learning rates (standardized, so the same on every data set): full-batch GD converges for 0 < lr < 1,
fastest at 0.5; small batches see per-batch curvature up to 2 * (1 + x_s^2), so with batch_size 1 on
many points lr >= ~0.5 can already diverge. LEARNING_RATE_PRESETS holds the UI's three examples.

Relative error, as the tests measure it: |a - a*| / max(|a*|, std y / std x) for the slope and
|c - c*| / max(|c*|, std y) for the intercept (the scale is the data's own when the optimum is ~0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

# Options: defaults and documented ranges (the service's request schema uses these).
DEFAULT_LEARNING_RATE = 0.1  # in standardized units; 0 < lr < 1 converges for full-batch GD
MIN_LEARNING_RATE = 0.0  # exclusive
MAX_LEARNING_RATE = 10.0  # inclusive; large values are allowed so divergence can be shown
# What a refused learning rate is told (the service's 422 detail and FitError alike): the range and why.
LEARNING_RATE_RANGE = (
    f"must be greater than {MIN_LEARNING_RATE:g} and at most {MAX_LEARNING_RATE:g}: it is the step size "
    "on standardized data, where below 1 converges and 1 to "
    f"{MAX_LEARNING_RATE:g} diverges (answered as status 'diverged', to show it); a larger step would "
    "only diverge faster"
)
DEFAULT_EPOCHS = 1000
MIN_EPOCHS = 1
MAX_EPOCHS = 10_000
DEFAULT_BATCH_SIZE = 32  # the starting mini-batch size; values above n are clipped to n
MIN_BATCH_SIZE = 1
DEFAULT_SEED = 0
DEFAULT_FIT_INTERCEPT = True
BATCH_GROWTH = 2.0  # batch multiplier per step from epoch 2 on; 1.0 is plain constant-batch SGD (stalls)

# Learning-rate presets for the web UI (standardized data, so they mean the same on any data set).
# Full-batch GD contracts by |1 - 2*lr| per epoch: 0.01 crawls (0.98), 0.3 is quick (0.4), 1.5 doubles
# the error every step (diverges; anything >= 1 does not converge).
LEARNING_RATE_PRESETS: dict[str, float] = {"small": 0.01, "good": 0.3, "too_large": 1.5}

# Compute budget: points x epochs. The service answers 422 above it.
DEFAULT_MAX_WORK_UNITS = 1_000_000 * DEFAULT_EPOCHS

# Output bounds.
DEFAULT_MAX_HISTORY = 200
MAX_TRAJECTORY = 200

# Numerics.
GRAD_TOL = 1e-13  # full-batch gradient norm in standardized units (round-off floor is ~1e-16)
DIVERGENCE_BOUND = 1e6  # |w| + |b| in standardized units; the optimum has |w| <= 1, b = 0
MAX_ABS_VALUE = 1e100  # keeps squares and losses finite in float64
# The slope scale std y / std x is refused only when it overflows a float64 itself: the optimum's slope is
# at most that scale (|w*| <= 1 standardized), and a diverging slope beyond it is clamped (see to_original).
STEP_CHUNK = 4096  # batches converted to Python floats at a time
PERFECT_FIT_RTOL = 1e-12  # rms residual / rms y below this counts as a perfect fit (r2 for constant y)

Status = Literal["converged", "max_epochs", "diverged"]


class FitError(ValueError):
    """The data cannot determine a line (the message says why). The service answers 422."""


@dataclass(frozen=True)
class FitOptions:
    learning_rate: float = DEFAULT_LEARNING_RATE
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = DEFAULT_SEED
    fit_intercept: bool = DEFAULT_FIT_INTERCEPT
    batch_growth: float = BATCH_GROWTH  # not a service option: it changes the cost model

    def __post_init__(self) -> None:
        if not (MIN_LEARNING_RATE < self.learning_rate <= MAX_LEARNING_RATE):
            raise FitError(f"learning_rate {LEARNING_RATE_RANGE}")
        if not (MIN_EPOCHS <= self.epochs <= MAX_EPOCHS):
            raise FitError(f"epochs must be in [{MIN_EPOCHS}, {MAX_EPOCHS}]")
        if self.batch_size < MIN_BATCH_SIZE:
            raise FitError(f"batch_size must be at least {MIN_BATCH_SIZE}")
        if not (1.0 <= self.batch_growth <= 1e6):
            raise FitError("batch_growth must be in [1, 1e6]")


@dataclass
class ClosedForm:
    slope: float
    intercept: float
    loss: float


@dataclass
class FitResult:
    slope: float
    intercept: float
    loss: float  # MSE on the original scale
    r2: float
    epochs_run: int
    status: Status
    loss_history: list[float]  # MSE after epochs history_epochs[i] (0 = before training), downsampled
    trajectory: list[tuple[float, float]] | None  # (slope, intercept) in original units, downsampled
    closed_form: ClosedForm
    history_epochs: list[int] = field(default_factory=list)


def work_units(n: int, epochs: int) -> int:
    """The budgeted cost of a fit: points x epochs (compare with DEFAULT_MAX_WORK_UNITS)."""
    return int(n) * int(epochs)


@dataclass
class _Scaled:
    """Data in standardized units plus what maps coefficients back."""

    xs: np.ndarray
    ys: np.ndarray
    x_shift: float  # mean x with an intercept, 0 without
    x_scale: float
    y_shift: float
    y_scale: float
    fit_intercept: bool
    y_constant: bool

    def to_original(self, w: float, b: float) -> tuple[float, float]:
        # Clamped first: an overflowing slope times a zero mean of x would make the intercept NaN.
        slope = _finite(w * self.y_scale / self.x_scale)
        if not self.fit_intercept:
            return slope, 0.0
        return slope, self.y_shift + b * self.y_scale - slope * self.x_shift


def _as_vector(values: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FitError(f"{name} must be a list of numbers") from exc
    if arr.ndim != 1:
        raise FitError(f"{name} must be a flat list of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise FitError(f"{name} must be finite numbers; {name}[{bad}] is {arr[bad]}")
    if arr.size and np.max(np.abs(arr)) > MAX_ABS_VALUE:
        raise FitError(f"{name} values must have magnitude at most {MAX_ABS_VALUE:g}")
    return arr


def _rms(v: np.ndarray) -> float:
    """Root mean square without overflow or underflow (scale by the largest magnitude first)."""
    m = float(np.max(np.abs(v)))
    if m == 0.0:
        return 0.0
    return m * math.sqrt(float(np.mean(np.square(v / m))))


def _center(v: np.ndarray) -> tuple[np.ndarray, float]:
    """Subtract the mean in two passes (the second removes the first one's rounding error)."""
    m1 = float(np.mean(v))
    c = v - m1
    m2 = float(np.mean(c))
    return c - m2, m1 + m2


def _prepare(x: ArrayLike, y: ArrayLike, fit_intercept: bool) -> _Scaled:
    xa, ya = _as_vector(x, "x"), _as_vector(y, "y")
    if xa.size != ya.size:
        raise FitError(f"x and y must have the same length, got {xa.size} and {ya.size}")
    if xa.size < 2:
        raise FitError(f"need at least 2 points, got {xa.size}")
    y_constant = bool(np.all(ya == ya[0]))
    if fit_intercept:
        if np.all(xa == xa[0]):
            raise FitError(f"all x values are equal ({xa[0]:g}): a line with an intercept is undetermined")
        xc, x_shift = _center(xa)
        yc, y_shift = (np.zeros_like(ya), float(ya[0])) if y_constant else _center(ya)
    else:
        if not np.any(xa):
            raise FitError("all x values are 0: a line through the origin is undetermined")
        xc, yc, x_shift, y_shift = xa, ya, 0.0, 0.0
    x_scale = _rms(xc)
    y_scale = _rms(yc) or 1.0  # constant y (or all-zero y through the origin): any scale will do
    if x_scale == 0.0 or not math.isfinite(y_scale / x_scale):  # (0: subnormal spread rounded away)
        raise FitError(
            f"x varies too little for the spread of y (rms {x_scale:.3g} vs {y_scale:.3g}): "
            "the slope would not fit in a float64"
        )
    return _Scaled(xc / x_scale, yc / y_scale, x_shift, x_scale, y_shift, y_scale, fit_intercept, y_constant)


def _optimum(d: _Scaled) -> tuple[float, float]:
    """Exact least squares in standardized units (centered normal equations; b* is ~0 by construction)."""
    if not d.fit_intercept:
        return float(np.dot(d.xs, d.ys) / np.dot(d.xs, d.xs)), 0.0
    mx, my = float(np.mean(d.xs)), float(np.mean(d.ys))
    xc = d.xs - mx
    w = float(np.dot(xc, d.ys - my) / np.dot(xc, xc))
    return w, my - w * mx


def _scaled_mse(d: _Scaled, w: float, b: float) -> float:
    return float(np.mean(np.square(w * d.xs + b - d.ys)))


def _r2(d: _Scaled, scaled_mse: float) -> float:
    """1 - SS_res / SS_tot (centered, as scikit-learn); constant y: 1.0 if the fit is perfect, else 0.0."""
    ys_var = float(np.var(d.ys))
    if d.y_constant or ys_var == 0.0:  # (the latter: subnormal y whose spread rounds away)
        return 1.0 if scaled_mse <= PERFECT_FIT_RTOL**2 * float(np.mean(np.square(d.ys))) else 0.0
    return 1.0 - scaled_mse / ys_var


def _finite(v: float) -> float:
    """Clamp to the largest double: a guard so no Infinity ever leaves this module."""
    return float(np.clip(v, -np.finfo(np.float64).max, np.finfo(np.float64).max))


def _closed_form(d: _Scaled) -> ClosedForm:
    w, b = _optimum(d)
    slope, intercept = d.to_original(w, b)
    return ClosedForm(slope, intercept, _scaled_mse(d, w, b) * d.y_scale**2)


def closed_form(x: ArrayLike, y: ArrayLike, *, fit_intercept: bool = True) -> ClosedForm:
    """Exact least-squares line (centered normal equations in standardized units; numerically stable)."""
    return _closed_form(_prepare(x, y, fit_intercept))


def _downsample(values: list, max_len: int) -> list:
    """At most max_len items, evenly spaced, always keeping the first and the last."""
    if len(values) <= max_len:
        return list(values)
    if max_len == 1:
        return [values[-1]]
    idx = np.unique(np.linspace(0, len(values) - 1, max_len).round().astype(np.int64))
    return [values[i] for i in idx]


class _Recorder:
    """Keeps every stride-th item of a stream, doubling the stride when full: bounded memory."""

    def __init__(self, max_len: int) -> None:
        self.max_len, self.stride, self.count, self.items, self.last = max_len, 1, 0, [], None

    def add(self, item: object) -> None:
        if self.count % self.stride == 0:
            self.items.append(item)
            if len(self.items) > 2 * self.max_len:
                self.items, self.stride = self.items[::2], self.stride * 2
        self.last, self.count = item, self.count + 1

    def result(self) -> list:
        items = self.items if self.items and self.items[-1] is self.last else [*self.items, self.last]
        return _downsample(items, self.max_len)


def _epoch_batches(n: int, size: float, growth: float) -> tuple[list[int], float]:
    """One epoch's batch sizes, and the size the next epoch starts from.

    Constant size (growth 1): full batches and a last partial one, as a shuffling DataLoader does.
    Growing: the size is multiplied by `growth` after every step, capped at n, and the last batch
    absorbs a remainder too small to make the next batch (so no tiny, noisy step ends an epoch).
    """
    if growth == 1.0:
        b = round(size)
        return [b] * (n // b) + ([n % b] if n % b else []), size
    counts, left = [], n
    while left:
        b, nxt = round(size), round(min(n, size * growth))
        counts.append(left if left < b + nxt else b)
        left -= counts[-1]
        size = min(float(n), size * growth)
    return counts, size


def _sgd_steps(
    w: float, b: float, batches: Iterable, lr: float, fit_intercept: bool, trajectory: _Recorder | None
) -> tuple[float, float, bool]:
    """One SGD step per batch of (Sum x, Sum y, Sum x^2, Sum x*y), count; True if it diverged."""
    for (sx, sy, sxx, sxy), m in batches:
        step = 2.0 * lr / m  # the batch MSE gradient is 2/m * Sum (w x + b - y) * [x, 1]
        gw = w * sxx + b * sx - sxy
        gb = w * sx + b * m - sy
        w -= step * gw
        if fit_intercept:
            b -= step * gb
        if trajectory:
            trajectory.add((w, b))
        if not abs(w) + abs(b) < DIVERGENCE_BOUND:  # also catches NaN
            return w, b, True
    return w, b, False


def fit_line(
    x: ArrayLike,
    y: ArrayLike,
    options: FitOptions | None = None,
    *,
    record_trajectory: bool = False,
    max_history: int = DEFAULT_MAX_HISTORY,
) -> FitResult:
    """Fit y = slope * x + intercept by mini-batch SGD on the MSE (see the module docstring)."""
    opts = options or FitOptions()
    d = _prepare(x, y, opts.fit_intercept)
    n = d.xs.size
    w_opt, b_opt = _optimum(d)
    best_mse = _scaled_mse(d, w_opt, b_opt)

    # Per-point terms of the batch sums: Sum x, Sum y, Sum x^2, Sum x*y.
    terms = (d.xs, d.ys, d.xs * d.xs, d.xs * d.ys)
    full = [float(np.sum(t)) for t in terms]
    mean_xx, mean_x = full[2] / n, full[0] / n  # the Gram matrix [[mean_xx, mean_x], [mean_x, 1]] ~ I

    def loss_at(w: float, b: float) -> float:
        """Standardized MSE: exact quadratic expansion around the optimum (O(1), no cancellation)."""
        dw, db = w - w_opt, b - b_opt
        return best_mse + dw * dw * mean_xx + 2.0 * dw * db * mean_x + db * db

    rng = np.random.default_rng(opts.seed)
    lr = opts.learning_rate

    w = b = 0.0
    trajectory = _Recorder(MAX_TRAJECTORY) if record_trajectory else None
    if trajectory:
        trajectory.add((w, b))
    history = [loss_at(w, b)]
    status: Status = "max_epochs"
    epochs_run = 0
    size = float(min(n, opts.batch_size))
    for epoch in range(1, opts.epochs + 1):
        growth = 1.0 if epoch == 1 else opts.batch_growth  # epoch 1: plain SGD at the user's batch size
        counts, size = _epoch_batches(n, size, growth)
        if len(counts) == 1:  # the whole set: gradient descent, no shuffle needed
            sums = np.array([full])
        else:  # a random partition into consecutive batches of a shuffled order
            labels = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
            rng.shuffle(labels)  # in place; int32 shuffles ~2x faster than an int64 permutation
            sums = np.stack([np.bincount(labels, weights=t, minlength=len(counts)) for t in terms], 1)
        for lo in range(0, len(counts), STEP_CHUNK):  # as Python floats a chunk at a time: bounded memory
            batches = zip(sums[lo : lo + STEP_CHUNK].tolist(), counts[lo : lo + STEP_CHUNK], strict=True)
            w, b, diverged = _sgd_steps(w, b, batches, lr, opts.fit_intercept, trajectory)
            if diverged:
                status = "diverged"
                break
        epochs_run = epoch
        history.append(loss_at(w, b))  # finite: a diverging run stops one step past DIVERGENCE_BOUND
        if status == "diverged":
            break
        gw = 2.0 / n * (w * full[2] + b * full[0] - full[3])
        gb = 2.0 / n * (w * full[0] + b * n - full[1]) if opts.fit_intercept else 0.0
        if math.hypot(gw, gb) <= GRAD_TOL:
            status = "converged"
            break

    mse = _scaled_mse(d, w, b)
    slope, intercept = d.to_original(w, b)
    epochs_idx = _downsample(list(range(len(history))), max_history)
    traj = None
    if trajectory:
        points = [p for p in trajectory.result() if math.isfinite(p[0]) and math.isfinite(p[1])]
        traj = [tuple(_finite(v) for v in d.to_original(pw, pb)) for pw, pb in points]
    return FitResult(
        slope=_finite(slope),
        intercept=_finite(intercept),
        loss=_finite(mse * d.y_scale**2),
        r2=_finite(_r2(d, mse)),
        epochs_run=epochs_run,
        status=status,
        loss_history=[_finite(history[i] * d.y_scale**2) for i in epochs_idx],
        trajectory=traj,
        closed_form=ClosedForm(*d.to_original(w_opt, b_opt), best_mse * d.y_scale**2),
        history_epochs=epochs_idx,
    )
