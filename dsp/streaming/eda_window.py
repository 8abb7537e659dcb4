"""A window's EDA work in one numba call: the readable skin numbers, the traces extended, and the
model's 17 EDA features.

Per window the readable SCL and SCR count (dsp.streaming.stages._skin), the traces' update
(EdaTraceTracker.update) and the model features (EdaTraceTracker.features) take about twenty
numpy and kernel calls of glue around the four kernels that do the arithmetic. eda_window_kernel
runs those kernels in the same order in one call for the usual case: no gap logged for the
stream, no jump in the new samples' times and every sample finite. Anything else returns
FALLBACK before any state changes, and the EDA stage (dsp.streaming.stages.EdaStage) finishes
the window step by step, restarting the traces at the gaps the engine logged, or raises the
clear error.
tests/vagus/test_pipeline_reference.py holds the pipeline's windows
equal with this path on and with every reference patched in, and
tests/dsp/test_streaming_window_paths.py holds the two paths equal on gapped and spoilt data.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from dsp.eda import clean_eda_design, skin_kernel
from dsp.filters import lower_bound_in, sosfilt_kernel
from dsp.streaming.beats import NS
from dsp.streaming.buffer import StreamBuffer
from dsp.streaming.eda_kernels import aligned_traces_kernel
from dsp.streaming.eda_traces import SCR_LOOKBACK_S, EdaTraceTracker
from dsp.streaming.gaps import jump_limit_ns
from dsp.stress.features_eda import EDA_FEATURES, SCR_LIMITS
from dsp.stress.features_eda_kernels import eda_features_kernel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: status: done / done, but the model features need the per-step path / take the per-step path
DONE, FEATURES_FALLBACK, FALLBACK = 0, 1, 2
#: layout of ``live``: buffer rows, window, traces' end, SCR look-back, alignment shift
FIRST, END, START, STOP, UNTIL, LOOK_BACK, SHIFT = range(7)
#: layout of ``numbers``: the skin's level and SCR count, the traces' base; then the features
LEVEL, COUNT, BASE = range(3)
_NUMBERS = 3


@numba.njit(cache=True)
def eda_window_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    times: IntArray,
    values: FloatArray,
    live: IntArray,
    rates: FloatArray,
    filters: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    scr: tuple[FloatArray, int, float, FloatArray],
    traces: tuple[IntArray, FloatArray, FloatArray],
    base: float,
) -> tuple[int, int, FloatArray, IntArray, FloatArray, FloatArray]:
    """(status, samples in the window, numbers, the traces' times, smoothed and tonic).

    ``rates`` is [fs, jump limit ns, least samples for features, traces wanted (0/1)];
    ``filters`` the smoothing and tonic sections and their states (updated in place);
    ``scr`` clean_eda's low-pass, its pad, the readable SCR floor and the model's SCR limits.
    numbers holds LEVEL, COUNT and BASE, then the 17 model features when computed."""
    fs, jump_ns, min_present, wanted = rates[0], rates[1], rates[2], rates[3]
    t_times, smoothed, tonic = traces
    numbers = np.full(_NUMBERS, np.nan)
    numbers[BASE] = base
    first, end = live[FIRST], live[END]
    w_lo = lower_bound_in(times, first, end, live[START])
    w_hi = lower_bound_in(times, first, end, live[STOP])
    present = w_hi - w_lo
    if present <= min_present:
        return DONE, present, numbers, t_times, smoothed, tonic
    lowpass, pad, floor, _ = scr
    level, count = skin_kernel(values[w_lo:w_hi, 0].copy(), fs, lowpass, pad, floor)
    if math.isnan(level):
        return FALLBACK, present, numbers, t_times, smoothed, tonic
    numbers[LEVEL], numbers[COUNT] = level, count
    if wanted == 0.0:
        return DONE, present, numbers, t_times, smoothed, tonic
    after = t_times[-1] + 1 if t_times.shape[0] else -(2**62)
    lo = lower_bound_in(times, first, end, after)
    hi = lower_bound_in(times, first, end, live[UNTIL])
    if hi > lo:
        previous = t_times[-1] if t_times.shape[0] else times[lo]
        for i in range(lo, hi):
            if not math.isfinite(values[i, 0]) or times[i] - previous > jump_ns:
                return FALLBACK, present, numbers, t_times, smoothed, tonic
            previous = times[i]
        x = values[lo:hi, 0].copy()
        smooth_sos, zi_smooth, tonic_sos, zi_tonic = filters
        if t_times.shape[0] == 0:  # the first samples: both filters start in steady state
            base = x[0]
            zi_smooth[:] = 0.0
            zi_tonic[:] = 0.0
            numbers[BASE] = base
        new_smoothed = sosfilt_kernel(smooth_sos, x - base, zi_smooth)
        new_tonic = sosfilt_kernel(tonic_sos, new_smoothed, zi_tonic)
        t_times = np.concatenate((t_times, times[lo:hi]))
        smoothed = np.concatenate((smoothed, new_smoothed + base))
        tonic = np.concatenate((tonic, new_tonic + base))
    status, features = _model_features(t_times, smoothed, tonic, live, fs, scr)
    return status, present, np.concatenate((numbers, features)), t_times, smoothed, tonic


@numba.njit(cache=True)
def _model_features(  # noqa: PLR0917 - numba takes no keyword-only arguments
    t_times: IntArray,
    smoothed: FloatArray,
    tonic: FloatArray,
    live: IntArray,
    fs: float,
    scr: tuple[FloatArray, int, float, FloatArray],
) -> tuple[int, FloatArray]:
    """(status, the 17 features, or none when the traces are too short) of the window."""
    n = t_times.shape[0]
    scr_lo = lower_bound_in(t_times, 0, n, live[START] - live[LOOK_BACK])
    t_first = lower_bound_in(t_times, 0, n, live[START])
    t_last = lower_bound_in(t_times, 0, n, live[STOP])
    if t_last - t_first < 2:
        return DONE, np.zeros(0)
    ok, a_smoothed, a_tonic, phasic = aligned_traces_kernel(
        smoothed, tonic, fs, scr_lo, t_last, live[SHIFT]
    )
    if not ok:
        return DONE, np.zeros(0)
    span = np.array([t_first - scr_lo, t_last - scr_lo], dtype=np.int64)
    lowpass, pad, _, limits = scr
    features = eda_features_kernel(
        a_tonic[span[0] : span[1]].copy(),
        a_smoothed[span[0] : span[1]].copy(),
        phasic,
        fs,
        span,
        lowpass,
        pad,
        limits,
    )
    if math.isnan(features[0]):
        return FEATURES_FALLBACK, np.zeros(0)
    return DONE, features


Skin = dict[str, float | int | None]


def eda_window(
    tracker: EdaTraceTracker | None,
    buffer: StreamBuffer,
    fs: float,
    *,
    start: int,
    end: int,
    until: int,
    min_present: float,
    scr_floor: float,
) -> tuple[int, Skin | None, dict[str, float] | None] | None:
    """(samples in [start, end), the readable skin numbers, the model's EDA features), each
    None when the window has too few samples for them, with the tracker's traces extended to
    ``until``; None (nothing changed) when the per-step path must run. ``tracker`` is None
    when the rate is too low for the model's traces."""
    if tracker is not None and (tracker.gaps.starts.size or tracker.fs != fs):
        return None
    times, values, first, stop = buffer.live()
    lowpass, pad = clean_eda_design(float(fs))
    jump_ns = jump_limit_ns(fs)
    live = np.array(
        [first, stop, start, end, until, int(SCR_LOOKBACK_S * NS),
         tracker.shift if tracker is not None else 0],
        dtype=np.int64,
    )  # fmt: skip
    rates = np.array([fs, jump_ns, min_present, float(tracker is not None)])
    if tracker is None:
        filters, traces = _NO_FILTERS, _NO_TRACES
        base = 0.0
    else:
        filters = (tracker.smooth_sos, tracker.zi_smooth, tracker.tonic_sos, tracker.zi_tonic)
        traces = (tracker.times, tracker.smoothed, tracker.tonic)
        base = tracker.base
    status, present, numbers, t_times, smoothed, tonic = eda_window_kernel(
        times, values, live, rates, filters, (lowpass, pad, scr_floor, SCR_LIMITS), traces, base
    )
    if status == FALLBACK:
        return None
    if present <= min_present:
        return present, None, None
    count = int(numbers[COUNT])
    skin: Skin = {
        "scl_us": float(numbers[LEVEL]) if math.isfinite(numbers[LEVEL]) else None,
        "scr_count": count,
        "scr_rate_per_min": 60.0 * count / (present / fs),
    }
    if tracker is None:
        return present, skin, None
    tracker.times, tracker.smoothed, tracker.tonic = t_times, smoothed, tonic
    tracker.base = float(numbers[BASE])
    if status == FEATURES_FALLBACK:
        return present, skin, tracker.features(start=start, end=end)
    features = numbers[_NUMBERS:].tolist()
    return present, skin, dict(zip(EDA_FEATURES, features, strict=True)) if features else {}


_NO_FILTERS = (np.zeros((1, 6)), np.zeros((1, 2)), np.zeros((1, 6)), np.zeros((1, 2)))
_NO_TRACES = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
