"""Half recovery, SCL and SCR statistics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dsp.eda import detect_scrs, scl_statistics, scr_statistics
from dsp.eda.scr_record import NOT_RECOVERED, _half_recovery_kernel, build_scr_set, empty_scr_set
from tests.reference.eda import half_recovery_reference

signals = arrays(np.float64, st.integers(2, 80), elements=st.integers(-3, 3).map(float))


@settings(max_examples=300, deadline=None)
@given(signals, st.data())
def test_half_recovery_kernel_matches_reference(x: np.ndarray, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, 6))
    peaks = np.array(data.draw(st.lists(st.integers(0, x.size - 1), min_size=k, max_size=k)))
    peaks = peaks.astype(np.int64)
    levels = np.array(data.draw(st.lists(st.floats(-4, 4), min_size=k, max_size=k)))
    limits = np.array(data.draw(st.lists(st.integers(0, x.size + 5), min_size=k, max_size=k)))
    limits = limits.astype(np.int64)
    kernel = _half_recovery_kernel(x, peaks, levels.astype(float), limits)
    np.testing.assert_array_equal(kernel, half_recovery_reference(x, peaks, levels, limits))


def test_build_scr_set_recovery_stops_at_limit() -> None:
    x = np.array([0.0, 1.0, 2.0, 1.5, 1.2, 0.9, 0.5, 1.0, 3.0, 2.0])
    scrs = build_scr_set(
        x, 2.0, onsets=np.array([0, 6]), peaks=np.array([2, 8]), limits=np.array([5, 10])
    )
    np.testing.assert_allclose(scrs.amplitude_us, [2.0, 2.5])
    # response 1: half level 1.0 first reached at sample 5, which the limit (5) excludes
    np.testing.assert_array_equal(scrs.half_recovery_idx, [NOT_RECOVERED, NOT_RECOVERED])
    scrs = build_scr_set(
        x, 2.0, onsets=np.array([0, 6]), peaks=np.array([2, 8]), limits=np.array([6, 10])
    )
    np.testing.assert_array_equal(scrs.half_recovery_idx, [5, NOT_RECOVERED])
    np.testing.assert_allclose(scrs.half_recovery_time_s, [1.5, np.nan])
    np.testing.assert_allclose(scrs.rise_time_s, [1.0, 1.0])


def test_scl_statistics_of_a_known_line() -> None:
    fs = 4.0
    t = np.arange(240) / fs
    level = 3.0 + 0.01 * t + 0.1 * np.sin(2 * np.pi * t / 60.0)
    stats = scl_statistics(level, fs)
    slope, _ = np.polyfit(t, level, 1)
    assert stats.slope_us_per_s == pytest.approx(slope, rel=1e-9)
    assert stats.mean_us == pytest.approx(level.mean())
    assert stats.std_us == pytest.approx(level.std())
    assert (stats.min_us, stats.max_us) == (level.min(), level.max())
    assert stats.median_us == pytest.approx(np.median(level))
    with pytest.raises(ValueError, match="at least 2"):
        scl_statistics([1.0], fs)
    with pytest.raises(ValueError, match="NaN"):
        scl_statistics([1.0, np.nan], fs)


def test_scr_statistics() -> None:
    fs = 8.0
    t = np.arange(0, 60, 1 / fs)
    since_peak = t[:, None] - np.array([11.5, 36.5])
    rise = np.clip(1.0 + since_peak / 1.5, 0, 1)
    decay = np.exp(-np.clip(since_peak, 0, None) / 3)
    eda = 2.0 + (rise * decay) @ np.array([0.4, 0.2])
    scrs = detect_scrs(eda, fs)
    stats = scr_statistics(scrs, 60.0)
    assert stats.count == 2
    np.testing.assert_allclose(scrs.amplitude_us, [0.4, 0.2], atol=0.03)
    assert stats.rate_per_min == pytest.approx(2.0)
    assert stats.amplitude_max_us == pytest.approx(scrs.amplitude_us.max())
    assert stats.amplitude_sum_us == pytest.approx(scrs.amplitude_us.sum())
    assert stats.rise_time_mean_s == pytest.approx(scrs.rise_time_s.mean())
    assert np.isfinite(stats.half_recovery_time_mean_s)
    none = scr_statistics(empty_scr_set(), 60.0)
    assert (none.count, none.rate_per_min, none.amplitude_sum_us) == (0, 0.0, 0.0)
    assert np.isnan(none.amplitude_mean_us) and np.isnan(none.half_recovery_time_mean_s)
    with pytest.raises(ValueError, match="positive"):
        scr_statistics(scrs, 0.0)
