"""Accelerometer motion flags for EDA samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.eda.motion import _near_any_kernel, dynamic_acceleration_g, motion_artifact_mask
from tests.reference.eda import near_any_reference

times = st.lists(st.floats(0, 100, allow_nan=False), max_size=40).map(sorted)


@settings(max_examples=300, deadline=None)
@given(times, times, st.floats(0, 10))
def test_near_any_kernel_matches_reference(
    events: list[float], queries: list[float], margin: float
) -> None:
    event_t, query_t = np.array(events, dtype=float), np.array(queries, dtype=float)
    np.testing.assert_array_equal(
        _near_any_kernel(event_t, query_t, margin), near_any_reference(event_t, query_t, margin)
    )


def _still(seconds: float, fs: float) -> np.ndarray:
    """A wrist at rest, tilted, with 5 mg of sensor noise."""
    rng = np.random.default_rng(0)
    n = round(seconds * fs)
    return np.array([0.6, 0.0, 0.8]) + rng.normal(0.0, 0.005, (n, 3))


def test_still_wrist_is_not_flagged_and_a_shake_is() -> None:
    acc_fs, eda_fs = 32.0, 4.0
    acc = _still(60.0, acc_fs)
    assert dynamic_acceleration_g(acc, acc_fs).max() < 0.05
    assert not motion_artifact_mask(acc, acc_fs, eda_fs=eda_fs, n_eda=240).any()
    t = np.arange(acc.shape[0]) / acc_fs
    shaking = (t >= 30.0) & (t < 32.0)
    acc[shaking, 0] += 0.8 * np.sin(2 * np.pi * 3.0 * t[shaking])  # 3 Hz, 0.8 g
    mask = motion_artifact_mask(acc, acc_fs, eda_fs=eda_fs, n_eda=240)
    flagged_t = np.flatnonzero(mask) / eda_fs
    # the shake, widened by the 2 s margin (and the 1 s moving mean's reach)
    assert 27.0 <= flagged_t.min() <= 28.5
    assert 33.5 <= flagged_t.max() <= 35.0
    assert np.all(np.diff(np.flatnonzero(mask)) == 1)
    wider = motion_artifact_mask(acc, acc_fs, eda_fs=eda_fs, n_eda=240, margin_s=5.0)
    assert wider.sum() > mask.sum()
    assert not motion_artifact_mask(acc, acc_fs, eda_fs=eda_fs, n_eda=240, threshold_g=2.0).any()


def test_eda_beyond_the_accelerometer_record_is_flagged() -> None:
    mask = motion_artifact_mask(_still(10.0, 32.0), 32.0, eda_fs=4.0, n_eda=80)
    assert not mask[:40].any()
    assert mask[40:].all()
    assert motion_artifact_mask(np.zeros((0, 3)), 32.0, eda_fs=4.0, n_eda=3).all()
    assert motion_artifact_mask(_still(10.0, 32.0), 32.0, eda_fs=4.0, n_eda=0).size == 0


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        dynamic_acceleration_g(np.zeros((10, 2)), 32.0)
    with pytest.raises(ValueError, match="NaN"):
        dynamic_acceleration_g(np.full((10, 3), np.nan), 32.0)
    with pytest.raises(ValueError, match="positive"):
        dynamic_acceleration_g(np.zeros((10, 3)), 0.0)
    with pytest.raises(ValueError, match="EDA sampling rate"):
        motion_artifact_mask(np.zeros((10, 3)), 32.0, eda_fs=0.0, n_eda=1)
    with pytest.raises(ValueError, match="threshold_g"):
        motion_artifact_mask(np.zeros((10, 3)), 32.0, eda_fs=4.0, n_eda=1, threshold_g=0.0)
