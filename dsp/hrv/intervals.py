"""Beat-to-beat intervals, artefact rejection and time-domain HRV.

Intervals stay in milliseconds throughout because that is how HRV norms are published.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MEDIAN_NEIGHBOURS = 5  # clean_rr's default: intervals on each side that form the running median


def rr_intervals_ms(peak_indices: npt.ArrayLike, fs: float) -> FloatArray:
    """Intervals between successive beats in ms (one fewer than there are peaks)."""
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    peaks = np.asarray(peak_indices, dtype=np.float64)
    if peaks.ndim != 1:
        raise ValueError("peak_indices must be one-dimensional")
    return np.diff(peaks) * (1000.0 / fs)


@numba.njit(cache=True)
def neighbour_median_kernel(rr: FloatArray, valid: BoolArray, half: int) -> FloatArray:
    """Median of valid intervals among `half` on each side (itself excluded); NaN if none.
    Valid values must be finite (clean_rr passes only in-range ones). Public for kernels that
    apply clean_rr's rule themselves (the gateway's fused RR path)."""
    n = rr.shape[0]
    out = np.full(n, np.nan)
    buf = np.empty(2 * half)
    for i in range(n):
        m = 0
        for j in range(max(0, i - half), min(n, i + half + 1)):
            if j != i and valid[j]:
                k = m  # insertion sort as we go: np.median would copy and sort per call
                while k > 0 and buf[k - 1] > rr[j]:
                    buf[k] = buf[k - 1]
                    k -= 1
                buf[k] = rr[j]
                m += 1
        if m % 2:
            out[i] = buf[m // 2]
        elif m > 0:
            out[i] = (buf[m // 2 - 1] + buf[m // 2]) / 2.0
    return out


def clean_rr(
    rr_ms: npt.ArrayLike,
    *,
    min_ms: float = 300.0,
    max_ms: float = 2000.0,
    max_relative_change: float = 0.2,
) -> BoolArray:
    """Keep-mask (True = keep) rejecting physiologically implausible and ectopic-looking intervals.

    An interval is rejected when it lies outside [min_ms, max_ms] (200-30 bpm by default), or
    when it differs by more than max_relative_change from the median of the in-range intervals
    among its 5 neighbours on each side (itself excluded). A median of neighbours, not the
    previous interval, so a missed or extra beat does not also condemn the interval after it.
    An interval with no in-range neighbour is judged by its range alone.
    """
    rr = np.ascontiguousarray(rr_ms, dtype=np.float64)
    if rr.ndim != 1:
        raise ValueError("rr_ms must be one-dimensional")
    in_range = np.isfinite(rr) & (rr >= min_ms) & (rr <= max_ms)
    med = neighbour_median_kernel(rr, in_range, MEDIAN_NEIGHBOURS)
    with np.errstate(invalid="ignore"):
        close = ~(np.abs(rr - med) > max_relative_change * med)  # NaN median: no verdict
    return np.asarray(in_range & close, dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class TimeDomainHrv:
    """Time-domain HRV of the kept (NN) intervals; NaN when fewer than 3 were kept."""

    n_intervals: int
    mean_nn_ms: float
    sdnn_ms: float  # sample standard deviation (ddof=1)
    rmssd_ms: float
    sdsd_ms: float  # ddof=1
    pnn50_pct: float  # percent (0-100) of successive differences above 50 ms, as everywhere
    mean_hr_bpm: float  # 60000 / mean_nn_ms


def time_domain(rr_ms: npt.ArrayLike, keep_mask: npt.ArrayLike | None = None) -> TimeDomainHrv:
    """SDNN, RMSSD, SDSD and pNN50 from RR intervals in ms, optionally masked by clean_rr.

    Successive differences are taken only between intervals that were adjacent in the original
    series and both kept, so a rejected beat never creates a spurious jump. pNN50 divides by the
    number of such differences (neurokit2 divides by that number + 1).
    """
    rr = np.asarray(rr_ms, dtype=np.float64)
    keep = np.ones(rr.shape, dtype=bool) if keep_mask is None else np.asarray(keep_mask, bool)
    if rr.ndim != 1 or keep.shape != rr.shape:
        raise ValueError("rr_ms must be 1-D and keep_mask the same shape")
    keep = keep & np.isfinite(rr)
    nn = rr[keep]
    diffs = np.diff(rr)[keep[:-1] & keep[1:]]
    if nn.size < 3 or diffs.size < 2:
        nan = float("nan")
        return TimeDomainHrv(int(nn.size), nan, nan, nan, nan, nan, nan)
    mean_nn = float(nn.mean())
    return TimeDomainHrv(
        n_intervals=int(nn.size),
        mean_nn_ms=mean_nn,
        sdnn_ms=float(nn.std(ddof=1)),
        rmssd_ms=float(np.sqrt(np.mean(diffs**2))),
        sdsd_ms=float(diffs.std(ddof=1)),
        pnn50_pct=float(100.0 * np.count_nonzero(np.abs(diffs) > 50.0) / diffs.size),
        mean_hr_bpm=60000.0 / mean_nn,
    )
