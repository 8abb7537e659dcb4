"""Resting heart rate and nocturnal HRV from beats and per-epoch sleep/wake.

Why at night: daytime HR and RMSSD move with posture, activity and talk; during sleep they track
recovery and autonomic state, so a trend over nights is what a clinician can read. Definitions:

- an RR interval belongs to the epoch that contains the beat ending it; it counts as asleep when
  that epoch is asleep (and, if sleep periods are given, inside one of them);
- resting HR: the lowest mean HR (60000 / mean NN) over any `window_s` (default 5 min) window of
  whole consecutive asleep epochs, sliding by one epoch, whose kept intervals cover at least
  `min_coverage` of the window (so a window with lost beats cannot fake a low rate);
- nocturnal RMSSD: over all successive differences of adjacent, kept, asleep intervals; its
  natural log (ln RMSSD) is reported because RMSSD is right-skewed between nights and people;
- window RMSSD: the same per qualifying window; the median over windows is less swayed by a
  few arousals than the whole-night figure. No sleep staging: windows are stage-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dsp.sleep.periods import SleepPeriod

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class NocturnalHrv:
    """NaN figures (and n_windows 0) when the night has no qualifying data."""

    resting_hr_bpm: float
    resting_hr_window_start_s: float  # on the epochs' clock
    rmssd_ms: float
    ln_rmssd: float
    median_window_rmssd_ms: float
    window_start_s: FloatArray  # qualifying windows
    window_hr_bpm: FloatArray
    window_rmssd_ms: FloatArray
    n_asleep_intervals: int

    @property
    def n_windows(self) -> int:
        return int(self.window_start_s.size)


def _asleep_epochs(asleep: npt.ArrayLike, periods: Sequence[SleepPeriod] | None) -> BoolArray:
    sleep = np.asarray(asleep)
    if sleep.ndim != 1 or sleep.dtype != np.bool_:
        raise ValueError("asleep must be a 1-D boolean array, one value per epoch")
    if periods is None:
        return sleep
    inside = np.zeros(sleep.size, dtype=np.bool_)
    for period in periods:
        if period.out_bed_index > sleep.size:
            raise ValueError("a sleep period extends past the epochs given")
        inside[period.in_bed_index : period.out_bed_index] = True
    return sleep & inside


def nocturnal_hrv(
    beat_times_s: npt.ArrayLike,
    rr_ms: npt.ArrayLike,
    asleep: npt.ArrayLike,
    *,
    epoch_start_s: float,
    epoch_s: float = 60.0,
    keep_mask: npt.ArrayLike | None = None,
    periods: Sequence[SleepPeriod] | None = None,
    window_s: float = 300.0,
    min_coverage: float = 0.8,
) -> NocturnalHrv:
    """Resting HR and nocturnal RMSSD; beat_times_s[i] is when interval rr_ms[i] ends.

    keep_mask (e.g. from dsp.hrv.clean_rr) marks the intervals to use; epoch k of `asleep`
    spans [epoch_start_s + k epoch_s, epoch_start_s + (k + 1) epoch_s).
    """
    t = np.asarray(beat_times_s, dtype=np.float64)
    rr = np.asarray(rr_ms, dtype=np.float64)
    keep = np.ones(rr.shape, np.bool_) if keep_mask is None else np.asarray(keep_mask, np.bool_)
    if t.ndim != 1 or rr.shape != t.shape or keep.shape != t.shape:
        raise ValueError("beat_times_s, rr_ms and keep_mask must be 1-D and the same length")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(rr))) or np.any(rr <= 0):
        raise ValueError("beat times must be finite and intervals finite and positive")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("beat_times_s must be strictly increasing")
    if epoch_s <= 0 or window_s < epoch_s or not 0.0 <= min_coverage <= 1.0:
        raise ValueError("need epoch_s > 0, window_s >= epoch_s and 0 <= min_coverage <= 1")
    sleep = _asleep_epochs(asleep, periods)
    epoch = np.floor((t - epoch_start_s) / epoch_s).astype(np.int64)
    known = (epoch >= 0) & (epoch < sleep.size)
    used = (
        keep & known & sleep[np.clip(epoch, 0, max(sleep.size - 1, 0))]
        if sleep.size
        else keep & False
    )
    pair = used[1:] & used[:-1]
    diffs = np.diff(rr)[pair]
    rmssd = float(np.sqrt(np.mean(diffs**2))) if diffs.size >= 2 else float("nan")
    per_window = round(window_s / epoch_s)
    min_cover_ms = min_coverage * window_s * 1000.0
    starts, hr, w_rmssd = _windows(
        epoch, rr, used, sleep, per_window=per_window, min_cover_ms=min_cover_ms
    )
    finite = w_rmssd[np.isfinite(w_rmssd)]
    best = int(np.argmin(hr)) if hr.size else -1
    nan = float("nan")
    return NocturnalHrv(
        resting_hr_bpm=float(hr[best]) if hr.size else nan,
        resting_hr_window_start_s=epoch_start_s + starts[best] * epoch_s if hr.size else nan,
        rmssd_ms=rmssd,
        ln_rmssd=float(np.log(rmssd)) if rmssd > 0 else nan,
        median_window_rmssd_ms=float(np.median(finite)) if finite.size else nan,
        window_start_s=epoch_start_s + starts * epoch_s,
        window_hr_bpm=hr,
        window_rmssd_ms=w_rmssd,
        n_asleep_intervals=int(used.sum()),
    )


def _per_epoch(epoch: npt.NDArray[np.int64], weights: FloatArray | None, n: int) -> FloatArray:
    """Sum of weights (or count) per epoch index 0..n-1."""
    return np.asarray(np.bincount(epoch, weights=weights, minlength=n), dtype=np.float64)


def _windows(
    epoch: npt.NDArray[np.int64],
    rr: FloatArray,
    used: BoolArray,
    sleep: BoolArray,
    *,
    per_window: int,
    min_cover_ms: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean HR and RMSSD of each window of `per_window` whole asleep epochs with enough beats."""
    n = sleep.size
    if n < per_window:
        empty = np.zeros(0)
        return empty, empty, empty
    e = epoch[used]
    nn_sum = _per_epoch(e, rr[used], n)
    nn_count = _per_epoch(e, None, n)
    pair = used[1:] & used[:-1]
    later_epoch, earlier_epoch = epoch[1:][pair], epoch[:-1][pair]
    sq = np.diff(rr)[pair] ** 2
    same = later_epoch == earlier_epoch  # a difference whose two intervals share an epoch...
    crossing = later_epoch == earlier_epoch + 1  # ...or straddle a boundary into `later_epoch`
    within_sq = _per_epoch(later_epoch[same], sq[same], n)
    within_n = _per_epoch(later_epoch[same], None, n)
    cross_sq = _per_epoch(later_epoch[crossing], sq[crossing], n)
    cross_n = _per_epoch(later_epoch[crossing], None, n)

    def window_sum(per_epoch: FloatArray, *, skip_first: bool = False) -> FloatArray:
        c = np.concatenate(([0.0], np.cumsum(per_epoch)))
        lo = np.arange(n - per_window + 1) + (1 if skip_first else 0)
        return c[np.arange(n - per_window + 1) + per_window] - c[lo]

    all_asleep = window_sum(np.asarray(sleep, dtype=np.float64)) == per_window
    total_nn = window_sum(nn_sum)
    count = window_sum(nn_count)
    ok = all_asleep & (total_nn >= min_cover_ms) & (count > 0)
    sq_sum = window_sum(within_sq) + window_sum(cross_sq, skip_first=True)
    sq_n = window_sum(within_n) + window_sum(cross_n, skip_first=True)
    starts = np.flatnonzero(ok).astype(np.float64)
    hr = 60000.0 * count[ok] / total_nn[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        rmssd = np.where(sq_n[ok] >= 2, np.sqrt(sq_sum[ok] / sq_n[ok]), np.nan)
    return starts, hr, rmssd
