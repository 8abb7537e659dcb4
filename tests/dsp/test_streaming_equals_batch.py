"""Issue 14 item 5: the streaming engine's beats equal whole-record detection's, at every rate.

The engine (dsp.streaming.beats.BeatTracker over dsp.ecg.stream) is fed hard ECG in random
notification chunks with jittered times, and windows close at random times (cutting beats);
its beats must equal dsp.ecg.detect_r_peaks run on each gap-free stretch of the same samples
(a gap: a step in sample times longer than max(3 periods, 0.5 s), the engine's rule). Where they
cannot be equal by design (dsp.ecg.stream's docstring) the difference is bounded here:
* a lead whose polarity flips: the same beats, each within POLARITY_BOUND_S, except a beat
  within REFINE_HALF_S (+ a block) of a gap-free stretch's first or last sample, which one
  side may lack (its other extremum is the edge sample, which neither keeps:
  _unpaired_at_edges); per window, each beat has a counterpart within POLARITY_BOUND_S, those
  that close to the window's start or end unchecked (one may have moved across it);
* a beat placed near a run's end on a near-tie (PLACEMENT_TIE_REL): the same beat, another
  sample of its refine window (dsp.ecg.stream's docstring: the 0.5 Hz placement baseline has
  not seen the ECG after the run; the case is recognised in the batch's own values, _tie_moves);
* a window closed at t may lack beats that search-back triggered more than DECIDE_AHEAD_S after t
  finds (only within LATE_S before t), and the first INITIAL_S + TAIL_S of ECG after a gap
  (the initial levels need them): they arrive with the next window.
Per window, heart rate (dsp.streaming.rr.heart_features) is within 0.5 bpm of the same
function on the batch beats of the same span wherever both see the same beats (same samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dsp.ecg import detect_r_peaks
from dsp.ecg import params as p
from dsp.ecg.kernels import (
    _decide_kernel,
    block_means_reference,
    energy_reference,
    local_peaks_reference,
    window_argmax_reference,
)
from dsp.ecg.params import INITIAL_S, REFINE_HALF_S, STALE_S
from dsp.ecg.peaks import _initial_levels
from dsp.filters import butter_bandpass_sos, butter_highpass_sos, sosfiltfilt
from dsp.streaming.beats import DECIDE_AHEAD_S, TAIL_S, BeatTracker
from dsp.streaming.gaps import GAP_PERIODS, MIN_GAP_S, GapLog, note_jumps
from dsp.streaming.rr import heart_features
from tests.reference.sample_buffer import SampleBuffer

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
IntArray = npt.NDArray[np.int64]
POLARITY_BOUND_S = 2 * REFINE_HALF_S + 0.01  # up vs down extremum, plus a detection block
LATE_S = STALE_S + DECIDE_AHEAD_S + 0.5
#: a streamed beat may sit on another sample of the batch beat's refine window when, in the
#: batch's own high-passed ECG, that sample is within this share of the window's range of the
#: batch's pick (a near-tie the stream's baseline error near a run's end can reverse: the
#: counterexample fs=250, seed 0, PVC at sample 19640: tie 0.047 of a 1827 range, 2.5e-5; the
#: stream's baseline there was 0.38-0.47 off the record's, 2.4 s before the run's end). A
#: second, found by hypothesis on 2026-12-05 (fs 360, hop 1.5 s, lag 2 s): the window's two
#: edge samples 1.31 apart in a 778 range, 1.7e-3, the stream on the other edge (37 samples).
#: The bound is set above the worst seen, not derived: a baseline error is not a share of the
#: QRS, so a stronger wander against a weaker QRS could need more.
PLACEMENT_TIE_REL = 5e-3
WINDOW_S = 60.0


@dataclass
class Hard:
    fs: float
    x: npt.NDArray[np.float64]
    times: IntArray
    flipped: bool


def _beat_times(rng: np.random.Generator, seconds: float, rates: list[float]) -> list[float]:
    """Beat times with abrupt rate changes between equal pieces, small HRV."""
    piece = seconds / len(rates)
    out, t = [], rng.uniform(0.1, 0.8)
    while t < seconds - 0.3:
        rr = 60.0 / rates[min(int(t / piece), len(rates) - 1)]
        out.append(t)
        t += rr * rng.normal(1.0, 0.02)
    return out


@dataclass(frozen=True)
class Recipe:
    """hard_ecg's draws, in the order it draws them."""

    fs: float
    seconds: float
    rates: tuple[float, ...]
    seed: int
    ectopic: bool
    steps: bool
    flipped: bool
    wander: bool
    noise: bool
    motion: bool
    dropout: str


@st.composite
def hard_ecg(draw: st.DrawFn) -> Hard:
    fs = draw(st.sampled_from([130.0, 250.0, 360.0]))
    seconds = draw(st.floats(70.0, 100.0))
    rates = tuple(draw(st.lists(st.floats(40.0, 200.0), min_size=1, max_size=4)))
    seed = draw(st.integers(0, 2**32 - 1))
    ectopic, steps, flipped, wander, noise, motion = (draw(st.booleans()) for _ in range(6))
    dropout = draw(st.sampled_from(["none", "hole", "short-hole", "flat"]))
    return make_hard(
        Recipe(fs, seconds, rates, seed, ectopic, steps, flipped, wander, noise, motion, dropout)
    )


def make_hard(r: Recipe) -> Hard:  # noqa: PLR0912 - one generator, its parts named
    fs, seconds = r.fs, r.seconds
    rng = np.random.default_rng(r.seed)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    x = np.zeros(n)
    for beat in _beat_times(rng, seconds, list(r.rates)):
        wide = r.ectopic and rng.random() < 0.1  # a PVC: early, wide, opposite
        at = beat - (0.15 if wide else 0.0)
        lo, hi = np.searchsorted(t, (at - 0.4, at + 0.6))
        s = t[lo:hi] - at
        if wide:
            x[lo:hi] -= 900 * np.exp(-0.5 * (s / 0.035) ** 2)
        else:
            x[lo:hi] += 1000 * np.exp(-0.5 * (s / 0.011) ** 2)
            x[lo:hi] -= 150 * np.exp(-0.5 * ((s - 0.03) / 0.01) ** 2)
        x[lo:hi] += 250 * np.exp(-0.5 * ((s - 0.2) / 0.045) ** 2)  # T
    if r.steps:  # amplitude steps
        for _ in range(3):
            cut = rng.integers(0, n)
            x[cut:] *= rng.uniform(0.3, 3.0)
    if r.flipped:
        x[rng.integers(n // 4, 3 * n // 4) :] *= -1
    if r.wander:  # baseline wander
        x += rng.uniform(200, 1500) * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t)
    if r.noise:  # muscle noise
        x += rng.normal(0, rng.uniform(20, 150), n)
    if r.motion:  # motion: bursts of low-frequency random walk
        for _ in range(3):
            start, length = int(rng.integers(0, n)), int(rng.uniform(1, 5) * fs)
            walk = np.cumsum(rng.normal(0, 60, length))
            x[start : start + length] += walk[: n - start]
    times = T0 + (np.arange(n) * (NS / fs)).astype(np.int64)
    keep = np.ones(n, dtype=bool)
    if r.dropout != "none":
        start = int(rng.integers(int(5 * fs), n - int(6 * fs)))
        length = int(
            fs * (rng.uniform(0.1, 0.4) if r.dropout == "short-hole" else rng.uniform(0.6, 5))
        )
        if r.dropout == "flat":
            x[start : start + length] = x[start]
        else:
            keep[start : start + length] = False
    return Hard(fs, np.ascontiguousarray(x[keep]), times[keep], r.flipped)


#: hypothesis's counterexample for the placement near-tie (see the test of that name)
RUN_END_TIE = Recipe(250.0, 100.0, (40.0,), 0, ectopic=True, steps=True, flipped=False,
                     wander=False, noise=False, motion=True, dropout="none")  # fmt: skip

#: counterexamples of the polarity bound's edges (a 3000-example search): the first beat after
#: a gap, placed down by the stretch (64 of 129 votes up), up at the stretch's first sample by
#: the stream's first run (its votes up so far), which drops it; and beats moved across a
#: window's start and end at once (equal counts, shifted by one; the last, by its margins)
FLIP_AT_GAP = Recipe(130.0, 97.25, (120.0, 51.5, 95.0, 168.0), 12635415, ectopic=True,
                     steps=True, flipped=True, wander=False, noise=False, motion=False,
                     dropout="hole")  # fmt: skip
FLIP_AT_WINDOW_EDGES = Recipe(250.0, 100.0, (40.0, 100.0, 82.0), 92688, ectopic=False,
                              steps=False, flipped=True, wander=False, noise=True, motion=True,
                              dropout="none")  # fmt: skip
#: votes split without a flip (72 of 144 up: noise and amplitude steps): the running majority
#: changes, and the stream places 131 beats on the other extremum, 4-14 samples away
SPLIT_VOTES = Recipe(250.0, 86.0, (85.5,), 15877333, ectopic=False, steps=True, flipped=False,
                     wander=False, noise=True, motion=False, dropout="none")  # fmt: skip
FLIP_NEAR_WINDOW_EDGES = Recipe(250.0, 92.48046875, (40.0, 63.125), 0, ectopic=False,
                                steps=False, flipped=True, wander=True, noise=True, motion=True,
                                dropout="none")  # fmt: skip


def batch_beats(times: IntArray, x: npt.NDArray[np.float64], fs: float) -> IntArray:
    """detect_r_peaks on each gap-free stretch (the engine's gap rule), as times."""
    limit = max(GAP_PERIODS / fs, MIN_GAP_S) * NS
    breaks = np.flatnonzero(np.diff(times) > limit) + 1
    out = [
        times[lo:hi][detect_r_peaks(x[lo:hi], fs)]
        for lo, hi in zip([0, *breaks.tolist()], [*breaks.tolist(), times.size], strict=True)
    ]
    return np.concatenate(out)


def _placement(x: npt.NDArray[np.float64], fs: float) -> tuple[IntArray, npt.NDArray[np.float64]]:
    """(refine-window centres, ECG minus the 0.5 Hz baseline) of detect_r_peaks on x: the steps
    of dsp.ecg.detect_r_peaks_reference up to the placement (_tie_moves holds them to its picks)."""
    factor = p.detection_factor(fs, full_rate=False)
    rate = fs / factor
    coarse = block_means_reference(x, factor) if factor > 1 else x
    band = sosfiltfilt(butter_bandpass_sos(*p.BAND_HZ, rate), coarse)
    hp = sosfiltfilt(butter_highpass_sos(p.HIGHPASS_HZ, rate), coarse)
    abs_deriv, mwi = energy_reference(band, max(1, round(p.INTEGRATION_S * rate)))
    idx = local_peaks_reference(mwi, max(1, round(p.CANDIDATE_HALF_S * rate)))
    search = round(p.SEARCH_HALF_S * rate)
    slope = abs_deriv[window_argmax_reference(abs_deriv, idx, search)]
    spki, npki = _initial_levels(mwi, rate)
    is_qrs = _decide_kernel(
        idx, np.ascontiguousarray(mwi[idx]), np.ascontiguousarray(slope), spki, npki,
        round(p.REFRACTORY_S * rate), round(p.T_WAVE_S * rate), float(rate),
        round(p.STALE_S * rate),
    )  # fmt: skip
    centres = window_argmax_reference(np.abs(band), idx[is_qrs], search) * factor
    centres += (factor - 1) // 2
    if factor == 1:
        return centres, hp
    positions = np.arange(coarse.size) * factor + (factor - 1) / 2.0
    return centres, x - np.interp(np.arange(x.size, dtype=np.float64), positions, coarse - hp)


def _tie_moves(hard: Hard, ours: IntArray, theirs: IntArray) -> dict[int, int]:
    """{streamed beat: batch beat} for the beats placed on a near-tie of the batch's refine
    window (PLACEMENT_TIE_REL): the batch's pick must be its window's first maximum or minimum
    in the recomputed placement (so _placement is held to detect_r_peaks), the streamed beat in
    the same window, their high-passed values within the share of the window's range."""
    if ours.size != theirs.size:
        return {}
    half = round(REFINE_HALF_S * hard.fs) + p.detection_factor(hard.fs, full_rate=False) // 2
    limit = max(GAP_PERIODS / hard.fs, MIN_GAP_S) * NS
    breaks = (np.flatnonzero(np.diff(hard.times) > limit) + 1).tolist()
    moves: dict[int, int] = {}
    for lo, hi in zip([0, *breaks], [*breaks, hard.times.size], strict=True):
        centres, flat = _placement(hard.x[lo:hi], hard.fs)
        differ = (theirs >= lo) & (theirs < hi) & (ours != theirs)
        for a, b in zip(ours[differ] - lo, theirs[differ] - lo, strict=True):
            for c in centres[np.abs(centres - b) <= half]:
                start = max(c - half, 0)
                window = flat[start : c + half + 1]
                picked = b - start in (np.argmax(window), np.argmin(window))
                tie = abs(flat[a] - flat[b]) <= PLACEMENT_TIE_REL * np.ptp(window)
                if picked and abs(a - c) <= half and tie:
                    moves[int(a + lo)] = int(b + lo)
    return moves


def _polarity_changes(hard: Hard) -> bool:
    """Whether, on some gap-free stretch, the majority of the batch's polarity votes over the
    beats so far (each beat: up if its high-passed maximum is at least minus its minimum)
    differs from the stretch's final majority at some beat: then the stream, which places by
    the votes so far, can take the other extremum (dsp.ecg.stream's docstring). A lead the
    generator flips is one case; noise and amplitude steps can split the votes without one."""
    half = round(REFINE_HALF_S * hard.fs) + p.detection_factor(hard.fs, full_rate=False) // 2
    limit = max(GAP_PERIODS / hard.fs, MIN_GAP_S) * NS
    breaks = (np.flatnonzero(np.diff(hard.times) > limit) + 1).tolist()
    for lo, hi in zip([0, *breaks], [*breaks, hard.times.size], strict=True):
        centres, flat = _placement(hard.x[lo:hi], hard.fs)
        if centres.size == 0:
            continue
        windows = [flat[max(c - half, 0) : c + half + 1] for c in np.sort(centres)]
        up = np.array([w.max() >= -w.min() for w in windows])
        running_up = np.cumsum(up) * 2 >= np.arange(1, up.size + 1)
        if np.any(running_up != running_up[-1]):
            return True
    return False


def _unpaired_at_edges(
    ours: IntArray, theirs: IntArray, edges: IntArray, bound: int, edge: int
) -> tuple[IntArray, IntArray]:
    """Both without the beats that have no counterpart within bound and lie within edge samples
    (REFINE_HALF_S and a block) of a gap-free stretch's first or last sample (a polarity flip:
    the other extremum of a beat that close can be the edge sample, which neither side keeps)."""

    def keep(a: IntArray, b: IntArray) -> npt.NDArray[np.bool_]:
        if b.size == 0:
            unpaired = np.ones(a.size, dtype=bool)
        else:
            at = np.clip(np.searchsorted(b, a), 1, max(b.size - 1, 1))
            near = np.minimum(np.abs(a - b[at - 1]), np.abs(a - b[np.minimum(at, b.size - 1)]))
            unpaired = near > bound
        at_edge = np.min(np.abs(a[:, None] - edges[None, :]), axis=1) <= edge
        kept: npt.NDArray[np.bool_] = ~(unpaired & at_edge)
        return kept

    return ours[keep(ours, theirs)], theirs[keep(theirs, ours)]


def _moved(beats: IntArray, moves: dict[int, int]) -> IntArray:
    return np.array([moves.get(int(b), int(b)) for b in beats], dtype=np.int64)


def stream_beats(
    hard: Hard, chunk_rng: np.random.Generator, hop_s: float, lag_s: float
) -> tuple[IntArray, list[tuple[int, IntArray]]]:
    """The engine's beats at the end, and per window close (until, beats known then)."""
    buffer, gaps = SampleBuffer(), GapLog()
    tracker, last = BeatTracker(gaps), None
    jitter = 0.45 * NS / hard.fs
    next_until = int(hard.times[0]) + int(WINDOW_S * NS)
    closes: list[tuple[int, IntArray]] = []
    i = 0
    while i < hard.x.size:
        size = int(chunk_rng.integers(1, 150))
        chunk = hard.times[i : i + size] + int(chunk_rng.uniform(-jitter, jitter))
        buffer.extend(chunk, hard.x[i : i + size])
        scan = chunk if last is None else np.concatenate(([last], chunk))
        note_jumps(gaps, scan, hard.fs)  # the engine's scan of every sample held
        last = int(chunk[-1])
        i += size
        while next_until <= int(chunk[-1]) - int(lag_s * NS):
            tracker.update(buffer, hard.fs, until_ns=next_until)
            closes.append((next_until, tracker.beats_ns.copy()))
            next_until += int(hop_s * NS)
    tracker.update(buffer, hard.fs, until_ns=int(buffer.window(0, 2**62)[0][-1]) + 1)
    return tracker.beats_ns, closes


def _match(ours: IntArray, theirs: IntArray, bound_ns: int) -> bool:
    """Same number of beats, each within bound_ns of its counterpart."""
    return ours.size == theirs.size and bool(np.all(np.abs(ours - theirs) <= bound_ns))


def _heart_rate(beats: IntArray, fs: float, start: int, end: int) -> float | None:
    recent = beats[(beats >= end - 180 * NS) & (beats < end)]
    readable, _, _ = heart_features(recent, np.ones(max(recent.size - 1, 0), bool), fs=fs,
                                    start=start, end=end)  # fmt: skip
    rate = readable.get("heart_rate_bpm")
    return None if rate is None else float(rate)


def _to_index(hard: Hard, beats_ns: IntArray) -> IntArray:
    """Sample numbers in hard.x of beat times the engine saw with jitter (< half a period)."""
    period = NS / hard.fs
    grid = np.round((hard.times - T0) / period).astype(np.int64)
    return np.searchsorted(grid, np.round((beats_ns - T0) / period).astype(np.int64))


def check_equal(hard: Hard, ours: IntArray, closes: list[tuple[int, IntArray]]) -> None:
    theirs = np.searchsorted(hard.times, batch_beats(hard.times, hard.x, hard.fs))
    flips = hard.flipped or _polarity_changes(hard)
    bound = round(POLARITY_BOUND_S * hard.fs) if flips else 0
    ours_idx = _to_index(hard, ours)
    limit = max(GAP_PERIODS / hard.fs, MIN_GAP_S) * NS
    if bound:  # a beat whose other extremum is a stretch's edge sample: kept by one side only
        edges = np.concatenate(([0], np.flatnonzero(np.diff(hard.times) > limit) + 1))
        edges = np.concatenate((edges, edges[1:] - 1, [hard.times.size - 1]))
        edge = round((REFINE_HALF_S + 0.01) * hard.fs)
        ours_idx, theirs = _unpaired_at_edges(ours_idx, theirs, edges, bound, edge)
    moves = _tie_moves(hard, ours_idx, theirs)
    assert _match(_moved(ours_idx, moves), theirs, bound), (ours_idx.size, theirs.size, moves)
    gap_ends = np.concatenate(([-(2**62)], hard.times[1:][np.diff(hard.times) > limit]))
    batch = hard.times[theirs]
    settle_ns = int((INITIAL_S + TAIL_S + 1) * NS)
    for until, known in closes:
        start = until - int(WINDOW_S * NS)
        raw = _to_index(hard, known)  # the window by true sample times, as the batch's
        mine = _moved(raw, moves)
        inside = (hard.times[mine] >= start) & (hard.times[mine] < until)
        raw, mine = raw[inside], mine[inside]
        want = theirs[(batch >= start) & (batch < until)]
        at = hard.times[want]
        after_gap = np.searchsorted(gap_ends, at, side="right") - 1
        late = (at >= until - int(LATE_S * NS)) | (at < gap_ends[after_gap] + settle_ns)
        if not bound:
            assert np.all(np.isin(np.setdiff1d(want, mine), want[late])), until
            assert np.all(np.isin(mine, want)), until  # nothing the batch does not find
            assert mine.size != want.size or _match(mine, want, bound), until
        else:  # pairs within bound; one moved across the window's start or end is on one side
            margin = int(POLARITY_BOUND_S * NS)
            known_all = _moved(_to_index(hard, known), moves)
            inner = (hard.times[mine] >= start + margin) & (hard.times[mine] < until - margin)
            assert all(np.min(np.abs(theirs - b)) <= bound for b in mine[inner]), until
            inner = (at >= start + margin) & (at < until - margin) & ~late
            assert all(
                known_all.size and np.min(np.abs(known_all - b)) <= bound for b in want[inner]
            ), until
        if np.array_equal(raw, want):  # the same beats: the same heart numbers
            ours_hr = _heart_rate(hard.times[mine], hard.fs, start, until)
            batch_hr = _heart_rate(hard.times[want], hard.fs, start, until)
            assert (ours_hr is None) == (batch_hr is None)
            if ours_hr is not None and batch_hr is not None:
                assert abs(ours_hr - batch_hr) <= 0.5, (until, ours_hr, batch_hr)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(hard=make_hard(RUN_END_TIE), chunk_seed=0, hop_s=1.0, lag_s=2.0)
@example(hard=make_hard(FLIP_AT_GAP), chunk_seed=0, hop_s=1.0, lag_s=2.0)
@example(hard=make_hard(FLIP_AT_WINDOW_EDGES), chunk_seed=0, hop_s=3.40625, lag_s=2.0)
@example(hard=make_hard(FLIP_NEAR_WINDOW_EDGES), chunk_seed=0, hop_s=1.0, lag_s=2.0)
@example(hard=make_hard(SPLIT_VOTES), chunk_seed=0, hop_s=1.0, lag_s=2.0)
@given(
    hard=hard_ecg(),
    chunk_seed=st.integers(0, 2**32 - 1),
    hop_s=st.floats(1.0, 15.0),
    lag_s=st.floats(TAIL_S, 8.4),
)
def test_streaming_beats_equal_batch_beats_on_hard_ecg(
    hard: Hard, chunk_seed: int, hop_s: float, lag_s: float
) -> None:
    ours, closes = stream_beats(hard, np.random.default_rng(chunk_seed), hop_s, lag_s)
    check_equal(hard, ours, closes)


def test_a_near_tie_at_a_run_end_moves_one_beat_within_its_refine_window() -> None:
    """The counterexample hypothesis found (fs 250 Hz, one PVC at sample 19640, windows every
    1 s with 2 s of ECG after each close): the PVC is a wide negative wave in an up-polarity
    record, so its up extremum is a window edge, and the two edges differ by 0.047 in the
    record's high-passed ECG; the run that places it ends 2.4 s later, where its 0.5 Hz baseline
    is 0.38-0.47 off the record's, so the stream takes the other edge (19627, the batch 19653).
    Every other beat is equal; the bound admits exactly this move."""
    hard = make_hard(RUN_END_TIE)
    ours, closes = stream_beats(hard, np.random.default_rng(0), 1.0, 2.0)
    theirs = np.searchsorted(hard.times, batch_beats(hard.times, hard.x, hard.fs))
    ours_idx = _to_index(hard, ours)
    assert ours_idx.size == theirs.size == 67
    assert ours_idx[ours_idx != theirs].tolist() == [19627]
    assert _tie_moves(hard, ours_idx, theirs) == {19627: 19653}
    check_equal(hard, ours, closes)


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
