"""PCST's RR preprocessing on hand-made annotation streams."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.hrv.pcst_selection import (
    NnSeries,
    PcstSettings,
    _spike_kernel,
    pcst_nn_series,
    pcst_window_starts,
    window,
)
from tests.reference.hrv import spike_reference

FS = 125.0


def _steady(n: int, rr_samples: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rr_samples + rng.integers(-3, 4, n)).astype(np.int64)


def test_spike_kernel_matches_reference() -> None:
    rng = np.random.default_rng(1)
    rr = 0.8 + 0.03 * rng.standard_normal(500)
    rr[rng.choice(500, 40, replace=False)] *= rng.choice([0.5, 0.75, 0.85, 1.3, 1.6], 40)
    np.testing.assert_array_equal(_spike_kernel(rr, 0.2, 5), spike_reference(rr, 0.2, 5))
    assert spike_reference(rr, 0.2, 5).sum() > 10


def test_noise_mark_splits_an_interval_and_both_halves_go() -> None:
    beats = _steady(60)
    samples = np.sort(np.append(beats, beats[30] + 40))  # a '~' 40 samples after beat 30
    out = pcst_nn_series(samples, FS)
    assert out.nn_ms.size == beats.size - 2  # the two pieces out, nothing else
    assert np.all(np.abs(out.nn_ms - 800) <= 3 * 8)
    # each kept interval keeps the time of the beat that ends it, from the first annotation
    expected_t = (beats[1:] - beats[0]) / FS
    np.testing.assert_allclose(out.t_s, np.delete(expected_t, 30))


def test_change_filter_needs_both_sides_and_spares_the_ends() -> None:
    rr = np.full(40, 100)
    rr[2] = 60  # inside the first five: never judged
    rr[20] = 130  # +30 % against both sides: dropped
    rr[30:] = 140  # a lasting step: new level agrees with the intervals after it
    out = pcst_nn_series(np.concatenate(([0], np.cumsum(rr))), FS)
    kept = np.round(out.nn_ms * FS / 1000).astype(int)
    assert 60 in kept and 130 not in kept
    assert np.count_nonzero(kept == 140) == 10


def test_gaps_and_physiological_limits() -> None:
    rr = np.full(40, 100)
    rr[15] = 260  # 2.08 s: a gap, dropped before the change filter sees it
    rr[25] = 0  # a duplicate annotation
    out = pcst_nn_series(np.concatenate(([0], np.cumsum(rr))), FS)
    assert out.nn_ms.size == 38
    low = pcst_nn_series(np.arange(0, 40 * 40, 40), FS)  # 0.32 s throughout: below 0.375 s
    assert low.nn_ms.size == 0
    with pytest.raises(ValueError, match="fs positive"):
        pcst_nn_series(np.arange(10), 0.0)


def test_windows_and_their_tolerance() -> None:
    t = np.arange(1.0, 1201.0)
    nn = np.full(t.size, 1000.0)
    nn[(t > 400) & (t < 470)] = np.nan  # stand-in for missing data
    keep = np.isfinite(nn)
    series = NnSeries(nn[keep], t[keep])
    starts = pcst_window_starts(series)
    assert starts.size == 32  # 0 ... 930 s: the last start is <= t_end - 300 + 30
    assert starts[4] == 120.0  # 120-420 s misses 19 s of 300: kept
    assert np.isnan(starts[5])  # 150-450 s misses 49 s, more than 15 %: skipped
    assert window(series, 0.0).nn_ms.size == 299  # beats ending at 1..299 s
    assert pcst_window_starts(NnSeries(np.zeros(0), np.zeros(0))).size == 0
    assert PcstSettings().lower_limit_s == 0.375
