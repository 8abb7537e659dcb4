"""RR artefact detection and correction after Lipponen & Tarvainen (2019), Kubios' automatic method.

Detection (J Med Eng Technol 43:173-181):

- dRR_j = RR_j - RR_{j-1}, normalised by Th1 = alpha x QD(|dRR|), the quartile deviation
  (Q3 - Q1) / 2 over a centred 91-beat window, alpha = 5.2. Time-varying, so a slow rise of heart
  rate during exercise is not taken for artefacts;
- mRR_j = RR_j - median of the 11 beats around it, negative values doubled (short beats are the
  likelier artefact), normalised by Th2 = alpha x QD(|mRR|) over 91 beats;
- subspaces S12 (the neighbour dRR of opposite sign to dRR_j) and S22 (the following two dRR);
- ectopic: dRR_j > 1 and S12 < -c1 dRR_j - c2, or dRR_j < -1 and S12 > -c1 dRR_j + c2
  (c1 = 0.13, c2 = 0.17): a premature beat and its compensatory pause;
- long / short: dRR_j > 1 and S22 < -1 / dRR_j < -1 and S22 > 1, or |mRR_j| > 3; a long beat
  whose half is within Th2 of the median is a missed beat, a short beat that summed with the next
  is within Th2 of the median is an extra beat. The flow (Figure 1 of the paper) is the one
  NeuroKit2's signal_fixpeaks(method="Kubios") implements; the tests compare labels with it.

Correction: an extra beat is merged with the next interval, a missed beat's interval is split in
two, and ectopic, long and short intervals are replaced by linear interpolation (in time) between
the nearest accepted intervals (Kubios uses a cubic spline; over one or two beats the two agree
closely and the linear bridge cannot overshoot). The share of intervals not labelled normal is the
signal-quality figure.

Differences from NeuroKit2's code: the first interval's dRR is its difference from the median of
the first 11 intervals (NeuroKit2 pads with the mean); the quartile deviation is floored at the
series' time resolution (its smallest non-zero step between intervals, at least 1 ms). On a
coarse clock (128 Hz: 7.8 ms steps) a regular rhythm has QD = 0; NeuroKit2 then divides by zero
and judges nothing there, even a missed beat, whereas a floor far below one clock step would call
a two-step wobble an artefact. Correction acts on intervals, not on peak sample indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dsp.hrv.rr_correction_kernels import (
    ECTOPIC,
    EXTRA,
    LONG,
    MISSED,
    NORMAL,
    SHORT,
    LabelArray,
    detect_kernel,
    rolling_quantiles_kernel,
)

FloatArray = npt.NDArray[np.float64]

#: Label names indexed by the codes in RrCorrection.labels.
LABEL_NAMES = ("normal", "ectopic", "long", "short", "missed", "extra")
MIN_QD_MS = 1.0  # floor of the time resolution (ms) that the quartile-deviation thresholds use
_QUARTILES = np.array([0.25, 0.75])
_MEDIAN = np.array([0.5])


@dataclass(frozen=True, slots=True, eq=False)
class RrCorrection:
    """Corrected intervals with the time of the beat ending each, one label per INPUT interval,
    and the share of corrected inputs.

    ``beat_times_ms[k]`` is when the beat closing ``rr_ms[k]`` happened, on the input's clock
    (``first_beat_ms`` plus the input intervals): a detected beat keeps its time, a missed beat
    is placed halfway through its interval, an extra beat is gone. For normal, missed and extra
    intervals ``rr_ms`` equals the difference of successive beat times; an interpolated
    (ectopic, long, short) interval does not, since its beat stays where it was detected while
    its length is the interpolated one. Correction changes the number of intervals, so windows
    must select corrected intervals by these times, never by a cumulative sum of ``rr_ms``
    (which drifts by every interpolated interval's change).
    """

    rr_ms: FloatArray
    beat_times_ms: FloatArray
    labels: LabelArray
    corrected_share: float

    def counts(self) -> dict[str, int]:
        """Number of input intervals per label name."""
        found = np.bincount(self.labels, minlength=len(LABEL_NAMES))
        return {name: int(found[code]) for code, name in enumerate(LABEL_NAMES)}


def _checked(rr_ms: npt.ArrayLike) -> FloatArray:
    rr = np.ascontiguousarray(rr_ms, dtype=np.float64)
    if rr.ndim != 1:
        raise ValueError("rr_ms must be one-dimensional")
    if not np.all(np.isfinite(rr)) or np.any(rr <= 0):
        raise ValueError("rr_ms must be finite and positive")
    return rr


def time_resolution_ms(rr: FloatArray) -> float:
    """The clock step the intervals were measured with: their smallest non-zero difference."""
    steps = np.abs(np.diff(rr))
    steps = steps[steps > 0]
    return max(float(steps.min()) if steps.size else 0.0, MIN_QD_MS)


def _checked_windows(rr_ms: npt.ArrayLike, *, window_beats: int, median_beats: int) -> FloatArray:
    """The intervals, checked, once the window lengths are known to make sense."""
    if window_beats < 3 or median_beats < 1:
        raise ValueError("window_beats must be >= 3 and median_beats >= 1")
    return _checked(rr_ms)


def _threshold(x: FloatArray, *, alpha: float, half: int, floor: float) -> FloatArray:
    """alpha x quartile deviation of |x| over the centred window, the deviation floored."""
    q1, q3 = rolling_quantiles_kernel(np.abs(x), half, _QUARTILES)
    th: FloatArray = alpha * np.maximum((q3 - q1) / 2.0, floor)
    return th


def detect_rr_artefacts(
    rr_ms: npt.ArrayLike,
    *,
    alpha: float = 5.2,
    c1: float = 0.13,
    c2: float = 0.17,
    window_beats: int = 91,
    median_beats: int = 11,
    resolution_ms: float | None = None,
) -> LabelArray:
    """One label code per interval (see LABEL_NAMES); fewer than 3 intervals are all normal.

    The last two intervals are never judged: the rules look two beats ahead. resolution_ms is
    the clock step the intervals were measured with when the caller knows it (an ECG's sample
    period); by default it is read off the series (time_resolution_ms), which a perfectly
    regular rhythm, or times with sub-sample jitter, would misjudge.
    """
    rr = _checked_windows(rr_ms, window_beats=window_beats, median_beats=median_beats)
    if rr.size < 3:
        return np.zeros(rr.size, dtype=np.int8)
    floor = time_resolution_ms(rr) if resolution_ms is None else max(resolution_ms, MIN_QD_MS)
    labels: LabelArray = detect_kernel(rr, alpha, c1, c2, window_beats // 2, median_beats, floor)
    return labels


def corrected_beat_times_ms(
    rr_ms: npt.ArrayLike, labels: npt.ArrayLike, *, first_beat_ms: float = 0.0
) -> FloatArray:
    """The time (ms) of the beat ending each interval apply_corrections returns (RrCorrection)."""
    rr = _checked(rr_ms)
    codes = np.asarray(labels, dtype=np.int8)
    if codes.shape != rr.shape:
        raise ValueError("labels must have one code per interval")
    ends = first_beat_ms + np.cumsum(rr)
    end = ends.copy()
    keep = np.ones(rr.size, dtype=bool)
    for j in np.flatnonzero(codes == EXTRA):
        if keep[j] and j + 1 < rr.size:  # the same pairing as apply_corrections
            end[j] = ends[j + 1]  # the merged interval ends at the next beat
            keep[j + 1] = False
    copies = np.where(codes == MISSED, 2, 1)[keep]
    times = np.repeat(end[keep], copies)
    first_of_pair = (np.cumsum(copies) - copies)[copies == 2]
    times[first_of_pair] -= rr[keep][copies == 2] / 2.0  # the lost beat, halfway
    return times


def apply_corrections(rr_ms: npt.ArrayLike, labels: npt.ArrayLike) -> FloatArray:
    """Corrected intervals: merge extra, split missed, interpolate ectopic / long / short."""
    rr = _checked(rr_ms)
    codes = np.asarray(labels, dtype=np.int8)
    if codes.shape != rr.shape:
        raise ValueError("labels must have one code per interval")
    values = rr.copy()
    if not codes.any():  # the common case: nothing to correct (NORMAL is 0)
        return values
    interpolate = (codes == ECTOPIC) | (codes == LONG) | (codes == SHORT)
    keep = np.ones(rr.size, dtype=bool)
    copies = np.ones(rr.size, dtype=np.int64)
    for j in np.flatnonzero(codes == EXTRA):
        if keep[j] and j + 1 < rr.size:  # the beat ending interval j was not a beat
            values[j] = rr[j] + rr[j + 1]
            keep[j + 1] = False
            interpolate[j : j + 2] = False
    missed = codes == MISSED
    values[missed] /= 2.0  # a beat was lost in the middle of interval j
    copies[missed] = 2
    out = np.repeat(values[keep], copies[keep])
    flagged = np.repeat(interpolate[keep], copies[keep])
    if flagged.any() and not flagged.all():
        t = np.cumsum(out)
        out[flagged] = np.interp(t[flagged], t[~flagged], out[~flagged])
    return out


def correct_rr(
    rr_ms: npt.ArrayLike,
    *,
    alpha: float = 5.2,
    c1: float = 0.13,
    c2: float = 0.17,
    window_beats: int = 91,
    median_beats: int = 11,
    resolution_ms: float | None = None,
    first_beat_ms: float = 0.0,
) -> RrCorrection:
    """Detect and correct artefacts in RR intervals (ms); see the module docstring.

    ``first_beat_ms`` is the time of the beat that opens the first interval, so that
    ``beat_times_ms`` come out on the caller's clock (relative to that beat by default).
    """
    rr = _checked(rr_ms)
    labels = detect_rr_artefacts(
        rr,
        alpha=alpha,
        c1=c1,
        c2=c2,
        window_beats=window_beats,
        median_beats=median_beats,
        resolution_ms=resolution_ms,
    )
    share = float(np.count_nonzero(labels != NORMAL) / rr.size) if rr.size else 0.0
    return RrCorrection(
        apply_corrections(rr, labels),
        corrected_beat_times_ms(rr, labels, first_beat_ms=first_beat_ms),
        labels,
        share,
    )
