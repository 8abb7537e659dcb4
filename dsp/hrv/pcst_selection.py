"""PCST's RR preprocessing, reproduced so that validation compares like with like.

The PhysioNet Cardiovascular Signal Toolbox (RRIntervalPreprocess.m, FindSpikesInRR.m,
CreateWindowRRintervals.m; demo_NSR settings) selects NN intervals from *all* annotations, in
this order:

1. intervals shorter than one sample (duplicate annotations) are dropped;
2. intervals >= gap_limit (2 s) are dropped as recording gaps;
3. the 20 % change filter: an interval is dropped when it differs by >= 20 % from the median of
   the 5 intervals before it AND from the median of the 5 after it (the first and last 5 are
   never dropped); judged on the series after step 2, before the physiological limits;
4. intervals < 0.375 s or > 2 s are dropped (physiological limits).

Beat labels play no part: in PCST's annotated-data demo the label vector is one longer than the
intervals, so its label-based rejection is silently skipped, and its artefact-label removal
compares a whole char array with '~' and matches nothing. Noise marks ('~') therefore split
intervals and the 20 % filter removes most of the pieces. Each NN interval keeps the time of
the beat that ends it, measured from the first annotation (t = cumsum of all raw intervals).

This is for validation. The live pipeline uses dsp.hrv.clean_rr (300-2000 ms, > 20 % from the
median of 5 neighbours on each side taken together) and takes successive differences only
between intervals that were adjacent before rejection; PCST differences across removed beats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class PcstSettings:
    """PCST's demo_NSR preprocessing parameters (seconds, fractions)."""

    gap_limit_s: float = 2.0
    lower_limit_s: float = 60.0 / 160.0  # 0.375 s
    upper_limit_s: float = 60.0 / 30.0  # 2 s
    change_limit: float = 0.2
    neighbours: int = 5
    window_s: float = 300.0
    step_s: float = 30.0
    window_tolerance: float = 0.15  # a window with < 85 % of its length in NN is skipped


@dataclass(frozen=True, slots=True)
class NnSeries:
    nn_ms: FloatArray
    t_s: FloatArray  # time of the beat that ends each interval


@numba.njit(cache=True)
def _spike_kernel(rr: FloatArray, limit: float, half: int) -> BoolArray:
    """True where rr[k] departs >= limit from both the median of the previous and next `half`."""
    n = rr.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    for k in range(half, n - half):
        before = np.median(rr[k - half : k])
        after = np.median(rr[k + 1 : k + 1 + half])
        if abs(rr[k] - before) / before >= limit and abs(rr[k] - after) / after >= limit:
            out[k] = True
    return out


def pcst_nn_series(
    annotation_samples: npt.ArrayLike, fs: float, settings: PcstSettings | None = None
) -> NnSeries:
    """NN intervals (ms) and their end times (s) selected from annotation samples as PCST does.

    Pass every annotation (beats and noise marks alike) at the rate PCST was told: for the
    nsr2db reference that is 125 Hz although the annotations are at 128 Hz.
    """
    cfg = settings or PcstSettings()
    samples = np.asarray(annotation_samples, dtype=np.float64)
    if samples.ndim != 1 or fs <= 0:
        raise ValueError("annotation_samples must be 1-D and fs positive")
    rr = np.diff(samples) / fs
    t = np.cumsum(rr)
    keep = (rr >= 1.0 / fs) & (rr < cfg.gap_limit_s)
    rr, t = rr[keep], t[keep]
    spikes = _spike_kernel(np.ascontiguousarray(rr), cfg.change_limit, cfg.neighbours)
    rr, t = rr[~spikes], t[~spikes]
    physiological = (rr >= cfg.lower_limit_s) & (rr <= cfg.upper_limit_s)
    return NnSeries(rr[physiological] * 1000.0, t[physiological])


def pcst_window_starts(series: NnSeries, settings: PcstSettings | None = None) -> FloatArray:
    """Window start times (s); NaN for a window whose NN intervals cover < 85 % of it."""
    cfg = settings or PcstSettings()
    if series.t_s.size == 0:
        return np.zeros(0)
    last = series.t_s[-1] - cfg.window_s + cfg.step_s
    starts = np.arange(0.0, last + 1e-9, cfg.step_s)
    out = starts.copy()
    for i, start in enumerate(starts):
        inside = (series.t_s >= start) & (series.t_s < start + cfg.window_s)
        if series.nn_ms[inside].sum() / 1000.0 < cfg.window_s * (1.0 - cfg.window_tolerance):
            out[i] = np.nan
    return out


def window(series: NnSeries, start_s: float, length_s: float = 300.0) -> NnSeries:
    """The intervals whose end time lies in [start_s, start_s + length_s)."""
    inside = (series.t_s >= start_s) & (series.t_s < start_s + length_s)
    return NnSeries(series.nn_ms[inside], series.t_s[inside])
