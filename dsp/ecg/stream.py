"""dsp.ecg.detect_r_peaks evaluated span by span: the streaming engine's R-peak step.

The gateway re-ran the whole detector on each new stretch of ECG plus OVERLAP_S of older
samples, and every run started its Pan-Tompkins state afresh: levels from the median of the
run's first 10 s of integrated energy and an RR history of 1 s. At exercise rates the QRS
energy fills much of the time, that median is high, and the fresh threshold sat above half the
beats (the Polar H10 ride at 1158-1170 s: the run started at spki 85,700 / npki 21,800,
threshold 37,700, where whole-record detection had reached 49,000 / 5,900, threshold 16,700; 12
of the 24 beats of that stretch were lost, and missed beats raised the noise level further).

detect_step instead carries the decision state from run to run, so streaming over any chunking
makes the decisions whole-record detection makes. Each run filters OVERLAP_S of older ECG (for
the filters to settle and for the candidates search-back and the stale restart look back at),
finds the candidates, and resumes dsp.ecg.kernels.decide_span_kernel at the first candidate the
previous run left undecided, with its levels, RR history (whose median starts search-back),
last QRS and restart anchor. It decides up to ``decide_before`` (candidates must lie EDGE_S
inside the run's end, where the zero-phase filters equal the whole record's), and places on the
R wave only the marks before ``place_before``; later marks wait, as times, for the next run
(``pending``).

Where the result can differ from detect_r_peaks on the whole span, by design:
* placement polarity: whole-record detection picks up or down by the majority over all the
  record's beats; the stream by the majority over the beats placed so far (carried votes). A
  record whose dominant polarity changes can place a beat on the other extremum, at most
  2 * REFINE_HALF_S (+ a block) away: the same beat, another sample. Within REFINE_HALF_S of
  a stretch's first or last sample that other extremum can be the edge sample, which neither
  keeps: there one side has a beat the other lacks.
* placement near a run's end: a beat is placed against the 0.5 Hz high-passed ECG of its run,
  which ends TAIL_S after the window (dsp.streaming.beats) while the whole record's goes on.
  That zero-phase high-pass settles slowly (its poles decay ~e^(-2.2 t/s), 1e-12 only after
  ~12 s), so a run's baseline there is off the record's (in the counterexample of
  tests/dsp/test_streaming_equals_batch.py, 2.4 s before the run's end, by 0.38-0.47 against a
  390 range of baseline). The band-pass that finds and decides the beats settles within EDGE_S
  and is unaffected. Where two samples of a refine window are a near-tie (a wide PVC against
  the record's polarity, whose "extremum" is a window edge: 0.047 apart there, 1.3 of a 778
  range in a second counterexample at 360 Hz), the stream can
  take the other one: the same beat, another sample of its window (up to 2 * REFINE_HALF_S).
* floating point: the runs' filters start at the run (steady state of its first sample), the
  whole record's earlier; after OVERLAP_S the difference is ~1e-12 relative, so a candidate on
  an exact tie could still differ. The property tests have not met one.
* a decision that looks back past the run's start (no candidate for more than OVERLAP_S - STALE_S,
  e.g. a flat dropout that is not a gap) uses the nearest candidate instead.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from dsp.ecg import params as p
from dsp.ecg.filter_pair import two_filtfilt_kernel
from dsp.ecg.fused import _initial_levels_kernel, plan
from dsp.ecg.kernels import (
    _energy_kernel,
    _local_peaks_kernel,
    _window_argmax,
    block_means_kernel,
    block_means_reference,
    decide_span_kernel,
    energy_reference,
    local_peaks_reference,
    refine_kernel,
    refine_reference,
    window_argmax_reference,
)
from dsp.ecg.peaks import _initial_levels
from dsp.filters import butter_bandpass_sos, butter_highpass_sos, lower_bound_in, sosfiltfilt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: candidates are decided only this far inside a run's end (the band-pass's edge error there is
#: below 1e-8 of the signal; the placement's window reaches 0.125 s further)
EDGE_S = 1.0
#: layout of the integer state: started, has_last, last candidate, restart anchor, decided
#: before, block grid (times in ns)
STARTED, HAS_LAST, LAST_NS, ANCHOR_NS, DECIDED_NS, GRID_NS = range(6)
#: layout of the float state: spki, npki, RR history (8), up votes, votes
SPKI, NPKI, RR, UP_VOTES, VOTES = 0, 1, slice(2, 10), 10, 11
_NOT_SET = -(2**63)


def new_state() -> tuple[FloatArray, IntArray]:
    """The state of a stream that has decided nothing."""
    marks = np.full(6, _NOT_SET, dtype=np.int64)
    marks[STARTED] = 0
    marks[HAS_LAST] = 0
    return np.zeros(12), marks


@numba.njit(cache=True)
def detect_step_kernel(  # noqa: PLR0917, PLR0915, PLR0912 - one kernel, numba's rules
    x: FloatArray,
    times: IntArray,
    rate: float,
    band_sos: FloatArray,
    band_pad: int,
    high_sos: FloatArray,
    high_pad: int,
    w: IntArray,
    levels: FloatArray,
    marks: IntArray,
    pending: IntArray,
    decide_before: int,
    place_before: int,
    to_end: bool,
) -> tuple[IntArray, FloatArray, IntArray, IntArray]:
    """(beat times placed by this run, the float state, the integer state, the pending marks)
    for the run x at `times` (ns), which starts on the block grid. See the module docstring;
    the state arrays are copied, never changed in place."""
    levels = levels.copy()
    marks = marks.copy()
    factor = w[9]
    n = x.shape[0]
    coarse = block_means_kernel(x, factor) if factor > 1 else x
    m = coarse.shape[0]
    band, hp = two_filtfilt_kernel(
        band_sos, min(band_pad, m - 1), high_sos, min(high_pad, m - 1), coarse
    )
    abs_deriv, mwi = _energy_kernel(band, w[0])
    idx = _local_peaks_kernel(mwi, w[1])
    c = idx.shape[0]
    slope = abs_deriv[_window_argmax(abs_deriv, idx, w[2])]
    amp = mwi[idx]
    ctimes = np.empty(c, dtype=np.int64)
    for k in range(c):
        ctimes[k] = times[idx[k] * factor]
    fresh = marks[STARTED] == 0
    rr_hist = np.full(8, rate)
    if fresh:
        spki0, npki0 = _initial_levels_kernel(mwi, w[7], w[8])
        levels[SPKI], levels[NPKI] = spki0, npki0
        levels[UP_VOTES], levels[VOTES] = 0.0, 0.0
        k0, last = 0, -1
        anchor = idx[0] if c > 0 else 0
    else:
        rr_hist[:] = levels[2:10]
        k0 = lower_bound_in(ctimes, 0, ctimes.shape[0], marks[DECIDED_NS])
        last = -1
        if marks[HAS_LAST] and c > 0:
            last = min(lower_bound_in(ctimes, 0, ctimes.shape[0], marks[LAST_NS]), c - 1)
            nearer = marks[LAST_NS] - ctimes[last - 1] < ctimes[last] - marks[LAST_NS]
            if last > 0 and ctimes[last] != marks[LAST_NS] and nearer:  # no exact match
                last -= 1
            last = min(last, max(k0 - 1, 0))
        i = lower_bound_in(times, 0, times.shape[0], marks[ANCHOR_NS])
        if i < n and times[i] == marks[ANCHOR_NS]:
            anchor = i // factor
        else:  # before the run: as many samples before it as its time says
            anchor = -int((times[0] - marks[ANCHOR_NS]) * rate / 1e9) - 1
    k1 = c if to_end else lower_bound_in(ctimes, 0, ctimes.shape[0], decide_before)
    k1 = max(k1, k0)
    is_qrs = np.zeros(c, dtype=np.bool_)
    pair = np.empty(2)
    pair[0], pair[1] = levels[SPKI], levels[NPKI]
    last, anchor = decide_span_kernel(
        idx, amp, slope, k0, k1, pair, rr_hist, last, anchor, is_qrs, w[3], w[4], w[5]
    )
    levels[SPKI], levels[NPKI] = pair[0], pair[1]
    levels[2:10] = rr_hist
    # the marks: those carried from the last run, then this run's (all later than those)
    new_marks = idx[is_qrs]
    all_marks = np.empty(pending.shape[0] + new_marks.shape[0], dtype=np.int64)
    count = 0
    for t in pending:
        i = lower_bound_in(times, 0, times.shape[0], t)
        if i < n:
            all_marks[count] = i // factor
            count += 1
    for q in new_marks:
        all_marks[count] = q
        count += 1
    all_marks = all_marks[:count]
    placed = count
    if not to_end:
        placed = 0
        while placed < count and times[all_marks[placed] * factor] < place_before:
            placed += 1
    rest = np.empty(count - placed, dtype=np.int64)
    for j in range(placed, count):
        rest[j - placed] = times[all_marks[j] * factor]
    beats = _window_argmax(np.abs(band), all_marks[:placed], w[2])
    out = np.zeros(0, dtype=np.int64)
    if beats.shape[0] > 0:
        beats = beats * factor + (factor - 1) // 2
        if factor == 1:
            up, down, up_val, down_val = refine_kernel(hp, np.zeros(1), 1, beats, w[6])
        else:
            up, down, up_val, down_val = refine_kernel(x, coarse - hp, factor, beats, w[6])
        levels[UP_VOTES] += np.count_nonzero(up_val >= -down_val)
        levels[VOTES] += beats.shape[0]
        chosen = up if levels[UP_VOTES] * 2 >= levels[VOTES] else down
        peaks = np.unique(chosen)
        keep = np.ones(peaks.shape[0], dtype=np.bool_)
        for j in range(peaks.shape[0]):  # a record's edge sample is no confirmed extremum
            if (fresh and peaks[j] <= 0) or (to_end and peaks[j] >= n - 1):
                keep[j] = False
        out = times[peaks[keep]]
    marks[STARTED] = 1
    marks[HAS_LAST] = 1 if last >= 0 else 0
    if last >= 0:
        marks[LAST_NS] = ctimes[last]
    if anchor >= 0:
        marks[ANCHOR_NS] = times[min(anchor * factor, n - 1)]
    else:
        marks[ANCHOR_NS] = times[0] + int(anchor * 1e9 / rate)
    decided = times[n - 1] + 1 if to_end else decide_before
    marks[DECIDED_NS] = decided if fresh else max(decided, marks[DECIDED_NS])
    marks[GRID_NS] = times[0]
    return out, levels, marks, rest


def detect_step(
    x: FloatArray,
    times: IntArray,
    fs: float,
    state: tuple[FloatArray, IntArray, IntArray],
    *,
    decide_before: int,
    place_before: int,
    to_end: bool,
) -> tuple[IntArray, tuple[FloatArray, IntArray, IntArray]]:
    """(beat times, the new state) of one run; ``state`` is (levels, marks, pending).

    ``x`` (at least two samples) starts on the block grid of the stream's first run;
    non-finite samples and rates below 50 Hz raise ValueError, as dsp.ecg does."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if fs < 50:
        raise ValueError(f"sampling rate {fs} Hz is too low for QRS detection")
    if not np.isfinite(x.sum()) and not np.all(np.isfinite(x)):
        raise ValueError("ecg contains NaN or infinite samples")
    factor = p.detection_factor(fs, full_rate=False)
    band, band_pad, high, high_pad, widths = plan(float(fs), factor)
    levels, marks, pending = state
    beats, levels, marks, pending = detect_step_kernel(
        x, times, fs / factor, band, band_pad, high, high_pad, widths,
        levels, marks, pending, decide_before, place_before, to_end,
    )  # fmt: skip
    return beats, (levels, marks, pending)


def detect_step_reference(  # noqa: PLR0915 - the kernel's steps, spelt out
    x: FloatArray,
    times: IntArray,
    fs: float,
    state: tuple[FloatArray, IntArray, IntArray],
    *,
    decide_before: int,
    place_before: int,
    to_end: bool,
) -> tuple[IntArray, tuple[FloatArray, IntArray, IntArray]]:
    """numpy twin of detect_step: dsp.ecg.detect_r_peaks_reference's steps, the decisions by
    the same span kernel (whose whole-record form tests/dsp/test_ecg.py holds equal to
    decide_reference), the state handled in plain Python."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    factor = p.detection_factor(fs, full_rate=False)
    rate = fs / factor
    levels, marks, pending = state[0].copy(), state[1].copy(), state[2].copy()
    coarse = block_means_reference(x, factor) if factor > 1 else x
    band = sosfiltfilt(butter_bandpass_sos(*p.BAND_HZ, rate), coarse)
    hp = sosfiltfilt(butter_highpass_sos(p.HIGHPASS_HZ, rate), coarse)
    abs_deriv, mwi = energy_reference(band, max(1, round(p.INTEGRATION_S * rate)))
    idx = local_peaks_reference(mwi, max(1, round(p.CANDIDATE_HALF_S * rate)))
    search = round(p.SEARCH_HALF_S * rate)
    slope = abs_deriv[window_argmax_reference(abs_deriv, idx, search)]
    ctimes = times[idx * factor]
    fresh = not marks[STARTED]
    rr_hist = np.full(8, rate)
    if fresh:
        levels[SPKI], levels[NPKI] = _initial_levels(mwi, rate)
        levels[UP_VOTES] = levels[VOTES] = 0.0
        k0, last, anchor = 0, -1, int(idx[0]) if idx.size else 0
    else:
        rr_hist[:] = levels[RR]
        k0 = int(np.searchsorted(ctimes, marks[DECIDED_NS]))
        last = -1
        if marks[HAS_LAST] and idx.size:
            last = int(np.argmin(np.abs(ctimes - marks[LAST_NS])))  # exact, or the nearest
            last = min(last, max(k0 - 1, 0))
        hits = np.flatnonzero(times == marks[ANCHOR_NS])
        anchor = int(hits[0]) // factor if hits.size else (
            -int((times[0] - marks[ANCHOR_NS]) * rate / 1e9) - 1
        )  # fmt: skip
    k1 = max(idx.size if to_end else int(np.searchsorted(ctimes, decide_before)), k0)
    is_qrs = np.zeros(idx.size, dtype=np.bool_)
    pair = levels[[SPKI, NPKI]].copy()
    last, anchor = decide_span_kernel(
        idx, np.ascontiguousarray(mwi[idx]), np.ascontiguousarray(slope), k0, k1, pair,
        rr_hist, last, anchor, is_qrs, round(p.REFRACTORY_S * rate),
        round(p.T_WAVE_S * rate), round(p.STALE_S * rate),
    )  # fmt: skip
    levels[SPKI], levels[NPKI], levels[RR] = pair[0], pair[1], rr_hist
    carried = np.searchsorted(times, pending) // factor
    all_marks = np.concatenate((carried[carried * factor < x.size], idx[is_qrs]))
    placed = all_marks.size if to_end else int(
        np.count_nonzero(times[all_marks * factor] < place_before)
    )  # fmt: skip
    rest = times[all_marks[placed:] * factor]
    out = np.zeros(0, dtype=np.int64)
    if placed:
        beats = window_argmax_reference(np.abs(band), all_marks[:placed], search)
        beats = beats * factor + (factor - 1) // 2
        baseline = np.zeros(1) if factor == 1 else coarse - hp
        half = round(p.REFINE_HALF_S * fs) + factor // 2
        up, down, up_val, down_val = refine_reference(
            hp if factor == 1 else x, baseline, factor, beats, half
        )
        levels[UP_VOTES] += np.count_nonzero(up_val >= -down_val)
        levels[VOTES] += beats.size
        peaks = np.unique(up if levels[UP_VOTES] * 2 >= levels[VOTES] else down)
        keep = ~((fresh & (peaks <= 0)) | (to_end & (peaks >= x.size - 1)))
        out = times[peaks[keep]]
    marks[STARTED] = 1
    marks[HAS_LAST] = int(last >= 0)
    if last >= 0:
        marks[LAST_NS] = ctimes[last]
    marks[ANCHOR_NS] = (
        times[min(anchor * factor, x.size - 1)] if anchor >= 0
        else times[0] + int(anchor * 1e9 / rate)
    )  # fmt: skip
    decided = int(times[-1]) + 1 if to_end else decide_before
    marks[DECIDED_NS] = decided if fresh else max(decided, int(marks[DECIDED_NS]))
    marks[GRID_NS] = times[0]
    return out, (levels, marks, rest)
