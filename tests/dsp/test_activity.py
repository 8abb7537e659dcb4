"""ENMO, the per-window activity summary and ActiGraph-like counts (Brønd et al. 2017)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.activity.movement import (
    _AG_A,
    _AG_B,
    _counts_kernel,
    actigraph_counts,
    activity_summary,
    enmo_g,
    vector_magnitude,
)
from tests.reference.activity import counts_reference


def test_enmo_removes_gravity_and_clips() -> None:
    acc = np.array([[0.0, 0.0, 1.0], [0.0, 0.6, 0.8], [0.0, 0.0, 0.5], [0.0, 1.2, 1.6]])
    np.testing.assert_allclose(enmo_g(acc), [0.0, 0.0, 0.0, 1.0], atol=1e-12)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        enmo_g(np.zeros((4, 2)))


def test_summary_uses_one_second_epochs() -> None:
    fs = 10.0
    rest = np.tile([0.0, 0.0, 1.0], (50, 1))  # 5 s still
    moving = np.tile([0.0, 0.0, 1.3], (30, 1))  # 3 s at 0.3 g ENMO
    spike = rest.copy()[:20]
    spike[3] = [0.0, 0.0, 3.0]  # one 2 g sample: 0.2 g over its epoch
    summary = activity_summary(np.vstack([rest, moving, spike]), fs)
    assert summary.mean_enmo_g == pytest.approx((30 * 0.3 + 2.0) / 100)
    assert summary.max_enmo_g == pytest.approx(0.3)
    assert summary.motion_fraction == pytest.approx(4 / 10)  # 3 moving epochs + the spike epoch
    assert activity_summary(
        np.vstack([rest, moving, spike]), fs, motion_threshold_g=0.25
    ).motion_fraction == pytest.approx(3 / 10)


def test_summary_edge_cases() -> None:
    empty = activity_summary(np.zeros((0, 3)), 25.0)
    assert math.isnan(empty.mean_enmo_g)
    short = activity_summary(np.tile([0.0, 0.0, 1.5], (7, 1)), 25.0)  # shorter than one epoch
    assert short.motion_fraction == 1.0
    assert short.max_enmo_g == pytest.approx(0.5)
    with pytest.raises(ValueError, match="positive"):
        activity_summary(np.zeros((3, 3)), 0.0)


# --- ActiGraph-like counts ---------------------------------------------------------------------
def _sine(freq_hz: float, amplitude_g: float, fs: float, seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * fs)) / fs
    return 1.0 + amplitude_g * np.sin(2 * np.pi * freq_hz * t)  # on top of gravity


def test_counts_kernel_matches_plain_reference() -> None:
    rng = np.random.default_rng(7)
    x30 = np.ascontiguousarray(0.4 * rng.standard_normal(900) + np.sin(np.arange(900) / 5.0))
    kernel = _counts_kernel(x30, _AG_B, _AG_A)
    reference = counts_reference(x30, _AG_B, _AG_A)
    assert kernel.size == 30 and kernel.sum() > 0
    np.testing.assert_array_equal(kernel, reference)


def test_counts_follow_the_filter_gain() -> None:
    """Steady-state counts of a 0.7 Hz sine equal the quantised, rectified, filtered sine.

    The 10 Hz samples hit only 100 phases of the sine, so the expectation is averaged over the
    phase offset (it spans about 1 % here); 2 % leaves room for the aliasing filter's wander.
    """
    freq, amplitude = 0.7, 0.3
    w = 2 * np.pi * freq / 30.0
    z = np.exp(-1j * w * np.arange(_AG_B.size))
    gain = abs(z @ _AG_B / (z @ _AG_A))
    offsets = np.linspace(0.0, 2 * np.pi, 24, endpoint=False)[:, None]
    phases = 2 * np.pi * freq * np.arange(600) / 10.0 + offsets  # one minute at 10 Hz
    filtered = np.minimum(np.abs(amplitude * gain * np.sin(phases)), 2.13)
    expected = np.where(filtered < 0.068, 0.0, np.floor(filtered / 0.0164)).sum(axis=1).mean()
    counts = actigraph_counts(_sine(freq, amplitude, 50.0, 300.0), 50.0)[1:-1, 0]
    print(f"0.7 Hz, 0.3 g: expected {expected:.0f}/min, got {counts.round().tolist()}")
    np.testing.assert_allclose(counts, expected, rtol=0.02)


def test_counts_are_band_limited_and_ignore_gravity() -> None:
    fs = 50.0
    in_band = actigraph_counts(_sine(1.0, 0.5, fs, 180.0), fs)[1:, 0].mean()
    slow = actigraph_counts(_sine(0.1, 0.5, fs, 180.0), fs)[1:, 0].mean()
    fast = actigraph_counts(_sine(5.0, 0.5, fs, 180.0), fs)[1:, 0].mean()
    assert in_band > 5000
    assert slow < 0.01 * in_band and fast < 0.01 * in_band
    still = np.tile([0.0, 0.0, 1.0], (round(120 * fs), 1))
    still += np.random.default_rng(1).normal(0.0, 0.005, still.shape)  # sensor noise
    assert not actigraph_counts(still, fs).any()


def test_counts_do_not_depend_on_sampling_rate() -> None:
    # 1.93 Hz, not 2 Hz: 2 Hz sampled at 10 Hz hits 5 phases only, and which 5 depends on the
    # rate's group delay (a property of ActiGraph's 10 Hz stage, not a resampling error)
    per_rate = {
        fs: actigraph_counts(_sine(1.93, 0.4, fs, 240.0), fs)[1:, 0].mean()
        for fs in (25.0, 30.0, 50.0, 100.0)
    }
    print(f"1.93 Hz, 0.4 g counts/min by rate: {per_rate}")
    reference = per_rate[100.0]
    for counts in per_rate.values():
        assert counts == pytest.approx(reference, rel=0.01)


def test_epochs_sum_seconds_and_drop_the_incomplete_tail() -> None:
    fs = 30.0
    rng = np.random.default_rng(3)
    acc = 1.0 + 0.3 * rng.standard_normal((round(125 * fs), 3))
    ten = actigraph_counts(acc, fs, epoch_s=10)
    sixty = actigraph_counts(acc, fs, epoch_s=60)
    assert ten.shape == (12, 3) and sixty.shape == (2, 3)
    np.testing.assert_array_equal(ten.reshape(2, 6, 3).sum(axis=1), sixty)
    np.testing.assert_allclose(vector_magnitude(sixty), np.linalg.norm(sixty, axis=1))
    assert actigraph_counts(acc[:100], fs).shape == (0, 3)


def test_counts_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="25 and 100 Hz"):
        actigraph_counts(np.ones(1000), 12.5)
    with pytest.raises(ValueError, match="finite"):
        actigraph_counts(np.full(3000, np.nan), 50.0)
    with pytest.raises(ValueError, match="epoch_s"):
        actigraph_counts(np.ones(3000), 50.0, epoch_s=0)
    with pytest.raises(ValueError, match="n_epochs, n_axes"):
        vector_magnitude(np.ones(3))
