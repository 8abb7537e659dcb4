"""A window's heart numbers in one numba call: the RR series, readable HRV, the score gate's
share and the model's 13 HRV features.

dsp.streaming.rr.heart_features glued the RR-series kernel, the time-domain kernel and the
Welch kernel together with some thirty numpy calls (masks, diffs, means, dicts) whose overhead
outweighed the arithmetic. heart_kernel does that glue in the same order with the same
operations; heart_features_reference (dsp.streaming.rr) keeps the numpy glue, and
tests/dsp/test_streaming_heart_kernels.py holds the two equal.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from dsp.hrv.welch_kernels import welch_band_powers_tabled
from dsp.streaming.rr_kernels import DONE, rr_series_kernel
from dsp.stress.features_kernels import hrv_time_kernel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NS = 1_000_000_000
#: heart_kernel's status: all values set / only ``beats`` / take the reference path
FULL, BEATS_ONLY, FALLBACK = 0.0, 1.0, 2.0
#: layout of heart_kernel's output
STATUS, BEATS, RMSSD, SDNN, MEAN_NN, FLAGGED_SHARE, GATE = range(7)
TIME_FEATURES = slice(7, 15)  # hrv_time_kernel's 8 values of the model's 60 s window
BAND_POWERS = slice(15, 19)  # vlf, lf, hf, vhf of the 180 s Welch spectrum
_SIZE = 19
_TIME_WINDOW_S, _FREQUENCY_WINDOW_S, _MIN_FREQUENCY_BEATS = 60.0, 180.0, 30


@numba.njit(cache=True)
def _share(mask: BoolArray, judged: BoolArray) -> float:
    hits = 0
    count = 0
    for i in range(mask.shape[0]):
        if judged[i]:
            count += 1
            hits += mask[i]
    return hits / count


@numba.njit(cache=True)
def heart_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    beats_ns: IntArray,
    real: BoolArray,
    period_ms: float,
    start: int,
    end: int,
    bands: FloatArray,
    welch: FloatArray,
    twiddles: tuple[FloatArray, FloatArray],
    with_spectrum: bool,
) -> FloatArray:
    """See the module docstring; ``welch`` is (resample Hz, segment s), ``twiddles`` its DFT
    tables (dsp.hrv_welch_kernels.welch_twiddles). Without ``with_spectrum`` the band powers
    stay NaN: no Welch spectrum for a model that takes none of them."""
    out = np.full(_SIZE, np.nan)
    out[STATUS] = BEATS_ONLY
    out[BEATS] = np.count_nonzero(beats_ns >= start)
    if beats_ns.shape[0] < 3:
        return out
    status, times, kept, flagged, clean = rr_series_kernel(beats_ns, real, period_ms)
    if status != DONE:
        out[STATUS] = FALLBACK
        return out
    judged = np.empty(real.shape[0], dtype=np.bool_)
    for i in range(real.shape[0]):
        judged[i] = float(beats_ns[i + 1]) >= start and real[i]
    rr = np.empty(times.shape[0] - 1)
    recent = np.empty(times.shape[0] - 1, dtype=np.bool_)
    n_recent_kept = 0
    for i in range(rr.shape[0]):
        rr[i] = (times[i + 1] - times[i]) / 1e6
        recent[i] = times[i + 1] >= start
        n_recent_kept += recent[i] and kept[i]
    if n_recent_kept < 2 or not np.any(judged):
        return out
    readable = hrv_time_kernel(rr[recent], kept[recent])
    out[STATUS] = FULL
    out[RMSSD], out[SDNN], out[MEAN_NN] = readable[0], readable[2], readable[3]
    out[FLAGGED_SHARE] = _share(flagged, judged)
    out[GATE] = max(1.0 - _share(clean, judged), out[FLAGGED_SHARE])
    if not _model_hrv(times, kept, end, bands, welch, twiddles, with_spectrum, out):
        out[STATUS] = FALLBACK  # the reference raises the clear error
    return out


@numba.njit(cache=True)
def _model_hrv(  # noqa: PLR0917 - numba takes no keyword-only arguments
    times: FloatArray,
    kept: BoolArray,
    end: int,
    bands: FloatArray,
    welch: FloatArray,
    twiddles: tuple[FloatArray, FloatArray],
    with_spectrum: bool,
    out: FloatArray,
) -> bool:
    """dsp.stress.features.hrv_features on the beat times (s, relative to the window's end)
    into out; False when the spectrum's input is invalid (not finite or not increasing)."""
    beats_s = (times - end) / NS
    model_rr = (beats_s[1:] - beats_s[:-1]) * 1000.0
    starts = beats_s[:-1]
    model_recent = starts >= -_TIME_WINDOW_S
    out[TIME_FEATURES] = hrv_time_kernel(model_rr[model_recent], kept[model_recent])
    if not with_spectrum:
        return True
    spectral = kept & (starts >= -_FREQUENCY_WINDOW_S)
    t = beats_s[1:][spectral]
    nn = model_rr[spectral]
    if nn.shape[0] < _MIN_FREQUENCY_BEATS:
        return True
    for i in range(nn.shape[0]):
        if not (np.isfinite(t[i]) and np.isfinite(nn[i])) or (i > 0 and t[i] <= t[i - 1]):
            return False
    powers = welch_band_powers_tabled(t, nn, bands, welch, twiddles[0], twiddles[1])
    out[BAND_POWERS] = powers
    return not np.isnan(powers[0])
