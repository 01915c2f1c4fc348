"""Divergence as a result, determinism, bounded outputs, presets, degenerate input and r2."""

import json
import math
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.linefit import (
    DEFAULT_EPOCHS,
    DEFAULT_MAX_HISTORY,
    DEFAULT_MAX_WORK_UNITS,
    LEARNING_RATE_PRESETS,
    MAX_TRAJECTORY,
    FitError,
    FitOptions,
    closed_form,
    fit_line,
    work_units,
)
from service.settings import Settings


def noisy_line(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 10.0, n)
    return x, 2.0 * x + 1.0 + rng.standard_normal(n)


def all_floats(result):
    """Every float in the result, as the service would serialize it."""
    d = asdict(result)
    out = [d["slope"], d["intercept"], d["loss"], d["r2"], *d["loss_history"], *d["closed_form"].values()]
    for point in d["trajectory"] or []:
        out.extend(point)
    return out


def assert_strict_json(result):
    text = json.dumps(asdict(result), allow_nan=False)  # raises on NaN or Infinity
    assert all(math.isfinite(v) for v in all_floats(result))
    return text


@pytest.mark.parametrize(("lr", "batch_size", "n"), [(1.5, 32, 50), (10.0, 1, 1000), (10.0, 10**4, 10**4)])
def test_divergence_is_a_finite_result(lr, batch_size, n):
    x, y = noisy_line(n)
    result = fit_line(x, y, FitOptions(learning_rate=lr, batch_size=batch_size), record_trajectory=True)
    assert result.status == "diverged"
    assert 1 <= result.epochs_run < DEFAULT_EPOCHS
    assert len(result.loss_history) >= 2  # the start and the blow-up
    assert result.loss_history[-1] > 1e6 * result.loss_history[0]
    assert result.loss == pytest.approx(result.loss_history[-1], rel=1e-6)
    assert_strict_json(result)
    assert result.closed_form == closed_form(x, y)  # the reference is still there to compare with


def test_divergence_on_huge_values_stays_finite():
    x = np.linspace(-1e100, 1e100, 64)
    result = fit_line(x, -x, FitOptions(learning_rate=10.0, batch_size=1), record_trajectory=True)
    assert result.status == "diverged"
    assert_strict_json(result)


def test_same_seed_same_result_other_seed_other_path():
    x, y = noisy_line(200)
    a = fit_line(x, y, FitOptions(seed=1), record_trajectory=True)
    b = fit_line(x, y, FitOptions(seed=1), record_trajectory=True)
    c = fit_line(x, y, FitOptions(seed=2), record_trajectory=True)
    assert a == b
    assert a.trajectory != c.trajectory  # the shuffles differ...
    assert c.slope == pytest.approx(a.slope, rel=1e-9)  # ...the optimum does not


def test_history_and_trajectory_are_bounded_and_keep_both_ends():
    x, y = noisy_line(100)
    opts = FitOptions(learning_rate=0.001, epochs=5000, batch_size=4)
    result = fit_line(x, y, opts, record_trajectory=True, max_history=50)
    assert result.epochs_run == 5000
    assert len(result.loss_history) == len(result.history_epochs) == 50
    assert result.history_epochs[0] == 0
    assert result.history_epochs[-1] == result.epochs_run
    assert result.history_epochs == sorted(set(result.history_epochs))
    # First entry: the loss of the starting line (slope 0, intercept mean y); last: the final loss.
    assert result.loss_history[0] == pytest.approx(np.mean((y - y.mean()) ** 2), rel=1e-12)
    assert result.loss_history[-1] == pytest.approx(result.loss, rel=1e-9)
    assert len(result.trajectory) <= MAX_TRAJECTORY
    assert result.trajectory[0] == pytest.approx((0.0, y.mean()), abs=1e-12)
    assert result.trajectory[-1] == pytest.approx((result.slope, result.intercept), rel=1e-12)


def test_default_history_length_and_no_trajectory_unless_asked():
    x, y = noisy_line(30)
    result = fit_line(x, y, FitOptions(learning_rate=0.001, epochs=3000))
    assert len(result.loss_history) == DEFAULT_MAX_HISTORY
    assert result.trajectory is None


def test_loss_history_is_the_true_mse_of_the_trajectory():
    """The O(1) per-epoch loss equals the MSE computed from the data, at every recorded point."""
    x, y = noisy_line(40, seed=4)
    result = fit_line(x, y, FitOptions(batch_size=40, learning_rate=0.05, epochs=30), record_trajectory=True)
    assert len(result.trajectory) == 31  # full batch: one step per epoch, plus the start
    for (slope, intercept), loss in zip(result.trajectory, result.loss_history, strict=True):
        assert loss == pytest.approx(np.mean((y - slope * x - intercept) ** 2), rel=1e-9)


def test_presets_crawl_converge_and_diverge():
    for seed in range(5):
        x, y = noisy_line(50, seed)
        small, good, too_large = (
            fit_line(x, y, FitOptions(learning_rate=LEARNING_RATE_PRESETS[k]))
            for k in ("small", "good", "too_large")
        )
        assert small.status == "max_epochs"  # crawls: still not within tolerance after the default epochs
        assert abs(small.slope - small.closed_form.slope) < 1e-3 * abs(small.closed_form.slope)
        assert good.status == "converged"
        assert good.epochs_run < 100
        assert too_large.status == "diverged"


def test_batch_size_above_n_is_full_batch_gradient_descent():
    x, y = noisy_line(20)
    big = fit_line(x, y, FitOptions(batch_size=10**9), record_trajectory=True)
    full = fit_line(x, y, FitOptions(batch_size=20), record_trajectory=True)
    assert big == full
    assert len(big.trajectory) == big.epochs_run + 1


def test_through_the_origin_has_zero_intercept():
    x, y = noisy_line(30)
    result = fit_line(x, y, FitOptions(fit_intercept=False), record_trajectory=True)
    assert result.intercept == 0.0
    assert all(c == 0.0 for _, c in result.trajectory)
    assert result.slope == pytest.approx(np.dot(x, y) / np.dot(x, x), rel=1e-9)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        ([], [], {}, "at least 2 points"),
        ([1.0], [2.0], {}, "at least 2 points"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], {}, "same length"),
        ([1.0, float("nan")], [1.0, 2.0], {}, "finite"),
        ([1.0, 2.0], [1.0, float("inf")], {}, "finite"),
        ([3.0, 3.0, 3.0], [1.0, 2.0, 3.0], {}, "all x values are equal"),
        ([0.0, 0.0], [1.0, 2.0], {"fit_intercept": False}, "all x values are 0"),
        (["a", "b"], [1.0, 2.0], {}, "numbers"),
        ([[1.0, 2.0]], [[1.0, 2.0]], {}, "flat list"),
        ([1.0, 1e300], [1.0, 2.0], {}, "magnitude"),
    ],
)
def test_degenerate_input_raises_fit_error(x, y, kwargs, message):
    with pytest.raises(FitError, match=message):
        fit_line(x, y, FitOptions(**kwargs))
    with pytest.raises(FitError, match=message):
        closed_form(x, y, **kwargs)


def test_all_equal_x_is_fine_through_the_origin():
    result = fit_line([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], FitOptions(fit_intercept=False))
    assert result.slope == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [{"learning_rate": 0.0}, {"learning_rate": 10.5}, {"epochs": 0}, {"epochs": 10_001}, {"batch_size": 0}],
)
def test_out_of_range_options_raise(kwargs):
    with pytest.raises(FitError):
        FitOptions(**kwargs)


def test_r2_for_constant_y_is_never_nan():
    perfect = fit_line([1.0, 2.0, 3.0], [0.1, 0.1, 0.1])
    assert perfect.slope == 0.0
    assert perfect.intercept == 0.1
    assert perfect.r2 == 1.0
    assert perfect.loss == 0.0
    imperfect = fit_line([1.0, 2.0, 3.0], [0.1, 0.1, 0.1], FitOptions(fit_intercept=False))
    assert imperfect.r2 == 0.0


def test_r2_matches_definition():
    x, y = noisy_line(80, seed=5)
    for fit_intercept in (True, False):
        r = fit_line(x, y, FitOptions(fit_intercept=fit_intercept))
        ss_res = np.sum((y - r.slope * x - r.intercept) ** 2)
        assert r.r2 == pytest.approx(1.0 - ss_res / np.sum((y - y.mean()) ** 2), rel=1e-12)


def test_the_default_budget_is_the_documented_one():
    """README: DIGITS_FIT_MAX_WORK defaults to 10^9 points x epochs, so 10^6 points fit on the default
    1000 epochs and not one epoch more (the service's refusal at the budget: tests/service/test_api.py)."""
    assert DEFAULT_EPOCHS == 1000
    assert DEFAULT_MAX_WORK_UNITS == 10**9
    assert work_units(10**6, 1000) <= DEFAULT_MAX_WORK_UNITS < work_units(10**6, 1001)
    assert (Settings().fit_max_points, Settings().fit_max_work) == (10**6, 10**9)


@settings(max_examples=150, deadline=None)
@given(
    points=st.lists(st.tuples(st.floats(-1e100, 1e100), st.floats(-1e100, 1e100)), min_size=0, max_size=40),
    lr=st.floats(1e-6, 10.0),
    batch_size=st.integers(1, 50),
    fit_intercept=st.booleans(),
    record=st.booleans(),
)
def test_any_finite_input_gives_a_finite_result_or_fit_error(points, lr, batch_size, fit_intercept, record):
    """Fuzz: subnormals, huge and tiny values, duplicates, any learning rate: never NaN/Inf, never a crash."""
    x = [p[0] for p in points]
    y = [p[1] for p in points]
    opts = FitOptions(learning_rate=lr, batch_size=batch_size, epochs=50, fit_intercept=fit_intercept)
    try:
        result = fit_line(x, y, opts, record_trajectory=record)
    except FitError:
        return
    assert result.status in ("converged", "max_epochs", "diverged")
    assert_strict_json(result)
