"""A window's RR series: Lipponen-Tarvainen corrected, never joined across a gap.

dsp.hrv.clean_rr dropped every interval more than 20 % from its neighbours' median, which threw
away 19 % of the intervals of resonant breathing (dsp.hrv.resonance), whose slow, deep swings are
the very signal. The pipeline now corrects the intervals of the look-back with dsp.hrv.rr_correction
(the Kubios method: ectopic, missed, extra, long and short beats found against time-varying
thresholds, then merged, split or interpolated), and reports the share of the window's
intervals it had to correct as ``rr_artifact_fraction``, the field clean_rr's rejected share
used (same meaning: the share of the window's RR intervals judged artefacts).

Each stretch of beats between two gaps is corrected on its own; the interval that would span a
gap is no interval, and the model's features see it as not kept.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dsp.hrv import clean_rr, correct_rr
from dsp.hrv.frequency import WELCH_RESAMPLE_HZ, WELCH_SEGMENT_S
from dsp.hrv.rr_correction_kernels import NORMAL
from dsp.hrv.welch_kernels import welch_twiddles
from dsp.streaming.heart_kernels import (
    BAND_POWERS,
    BEATS,
    FALLBACK,
    FLAGGED_SHARE,
    FULL,
    GATE,
    MEAN_NN,
    RMSSD,
    SDNN,
    STATUS,
    TIME_FEATURES,
    heart_kernel,
)
from dsp.streaming.readable import heart_readable
from dsp.streaming.rr_kernels import DONE, rr_series_kernel
from dsp.stress.features import (
    BAND_EDGES,
    HRV_FEATURES,
    SPECTRAL_HRV_FEATURES,
    frequency_dict,
    hrv_features,
)
from dsp.stress.features_kernels import hrv_time_kernel

NS = 1_000_000_000
#: (readable HRV, the model's HRV features, the share the score gate judges by)
HeartResults = tuple[dict[str, float | int | None], dict[str, float], float | None]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
WELCH = np.array([WELCH_RESAMPLE_HZ, WELCH_SEGMENT_S])
TWIDDLES = welch_twiddles(BAND_EDGES, WELCH_RESAMPLE_HZ, WELCH_SEGMENT_S)


def corrected_series(
    beats_ns: IntArray, real: BoolArray, *, fs: float
) -> tuple[FloatArray, BoolArray, FloatArray, BoolArray]:
    """Corrected beat times (ns, float) with the kept mask of the intervals between them, and
    per INPUT interval its end time (ns) and whether L-T labelled it other than normal.

    ``real[i]`` says whether beats i and i + 1 are on the same side of every gap. correct_rr's
    thresholds are floored at the ECG's sample period (a beat's time is known to one sample):
    read off the series instead, nanosecond jitter in gateway times shrank it to the 1 ms
    minimum (at 130 Hz a calm rhythm's one-sample wobbles then looked like artefacts), and a
    perfectly regular rhythm raised it to the one odd interval (which then passed unseen).
    """
    period_ms = 1000.0 / fs
    breaks = np.flatnonzero(~real) + 1
    times: list[FloatArray] = []
    kept: list[BoolArray] = []
    flagged = np.zeros(real.size, dtype=np.bool_)
    for lo, hi in zip([0, *breaks.tolist()], [*breaks.tolist(), beats_ns.size], strict=True):
        run = beats_ns[lo:hi]
        if run.size >= 2:
            fix = correct_rr(np.diff(run) / 1e6, resolution_ms=period_ms)
            flagged[lo : hi - 1] = fix.labels != NORMAL
            run_times = np.concatenate(([0.0], np.cumsum(fix.rr_ms) * 1e6)) + float(run[0])
        else:
            run_times = run.astype(np.float64)
        if times:
            kept.append(np.zeros(1, dtype=np.bool_))  # the interval across the gap
        kept.append(np.ones(max(run_times.size - 1, 0), dtype=np.bool_))
        times.append(run_times)
    if not times:
        return np.zeros(0), np.zeros(0, dtype=np.bool_), np.zeros(0), flagged
    return np.concatenate(times), np.concatenate(kept), beats_ns[1:].astype(np.float64), flagged


def rr_series(
    beats_ns: IntArray, real: BoolArray, *, fs: float
) -> tuple[FloatArray, BoolArray, BoolArray, BoolArray]:
    """corrected_series' times, kept and flags, and clean_rr's keep-mask of every input interval:
    in one kernel call (dsp.streaming.rr_kernels); bad beat times take the reference path, whose
    checks raise the clear error."""
    status, times, kept, flagged, clean = rr_series_kernel(beats_ns, real, 1000.0 / fs)
    if status != DONE:
        return rr_series_reference(beats_ns, real, fs=fs)
    return times, kept, flagged, clean


def rr_series_reference(
    beats_ns: IntArray, real: BoolArray, *, fs: float
) -> tuple[FloatArray, BoolArray, BoolArray, BoolArray]:
    """numpy twin of rr_series: corrected_series, then clean_rr over all input intervals."""
    times, kept, _, flagged = corrected_series(beats_ns, real, fs=fs)
    return times, kept, flagged, clean_rr(np.diff(beats_ns) / 1e6)


def heart_features(
    beats_ns: IntArray,
    real: BoolArray,
    *,
    fs: float,
    start: int,
    end: int,
    with_spectrum: bool = True,
) -> HeartResults:
    """Readable HRV of the window [start, end) and the model's 13 HRV features, from the beats
    of the look-back (ns, sorted), whether each interval between them is real, and the ECG
    rate fs (Hz). Third: the share the score gate judges by (see the module docstring).
    Without ``with_spectrum`` the five spectral features are left out (a model that takes none
    of them need not pay for a Welch spectrum every window).
    One kernel call (dsp.streaming.heart_kernels); heart_features_reference is its twin."""
    values = heart_kernel(
        beats_ns, real, 1000.0 / fs, start, end, BAND_EDGES, WELCH, TWIDDLES, with_spectrum
    )
    return heart_results(
        values, beats_ns, real, fs=fs, start=start, end=end, with_spectrum=with_spectrum
    )


def heart_results(
    values: FloatArray,
    beats_ns: IntArray,
    real: BoolArray,
    *,
    fs: float,
    start: int,
    end: int,
    with_spectrum: bool = True,
) -> HeartResults:
    """heart_features' values from heart_kernel's output (dsp.streaming.ecg_window computes
    it inside a larger kernel); its FALLBACK status takes the reference path on the inputs."""
    if values[STATUS] == FALLBACK:
        return heart_features_reference(
            beats_ns, real, fs=fs, start=start, end=end, with_spectrum=with_spectrum
        )
    in_window = int(values[BEATS])
    if values[STATUS] != FULL:
        return {"beats": in_window}, {}, None
    readable = heart_readable(
        in_window,
        float(values[MEAN_NN]),
        float(values[RMSSD]),
        float(values[SDNN]),
        float(values[FLAGGED_SHARE]),
    )
    model = dict(zip(HRV_FEATURES[:8], values[TIME_FEATURES].tolist(), strict=True))
    powers = values[BAND_POWERS].tolist()
    if math.isnan(powers[0]):
        model |= dict.fromkeys(SPECTRAL_HRV_FEATURES, math.nan)
    else:
        model |= frequency_dict(dict(zip(("vlf", "lf", "hf", "vhf"), powers, strict=True)))
    return readable, model, float(values[GATE])


def heart_features_reference(
    beats_ns: IntArray,
    real: BoolArray,
    *,
    fs: float,
    start: int,
    end: int,
    with_spectrum: bool = True,
) -> HeartResults:
    """numpy twin of heart_features (the step-by-step path around the same definitions)."""
    in_window = int(np.count_nonzero(beats_ns >= start))
    if beats_ns.size < 3:
        return {"beats": in_window}, {}, None
    beat_times, kept, flagged, clean = rr_series(beats_ns, real, fs=fs)
    input_ends = beats_ns[1:].astype(np.float64)
    judged = (input_ends >= start) & real  # the window's input intervals
    rr = np.diff(beat_times) / 1e6
    recent = beat_times[1:] >= start  # corrected intervals that end inside the window
    if np.count_nonzero(recent & kept) < 2 or not judged.any():
        return {"beats": in_window}, {}, None
    # dsp.hrv.time_domain's definitions, from the fused kernel: [rmssd, pnn50, sdnn, mean, ...]
    rmssd, _, sdnn, mean_nn = hrv_time_kernel(rr[recent], kept[recent]).tolist()[:4]
    readable = heart_readable(in_window, mean_nn, rmssd, sdnn, float(np.mean(flagged[judged])))
    rejected = float(1.0 - np.mean(clean[judged]))
    gate = max(rejected, float(np.mean(flagged[judged])))
    model = hrv_features((beat_times - end) / NS, kept)
    if not with_spectrum:
        model |= dict.fromkeys(SPECTRAL_HRV_FEATURES, math.nan)
    return readable, model, gate
