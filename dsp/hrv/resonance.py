"""Resonance breathing frequency from HRV recorded while the patient breathes at several paces.

Why: slow breathing moves heart rate most at one personal pace (usually 4.5-7 breaths/min), where
the respiratory and baroreflex rhythms add up (Lehrer, Vaschillo & Vaschillo 2000). The closed
loop paces breathing at that rate once it is known (`ResonanceEstimate.breaths_per_min`).

Protocol: one segment per pace (e.g. 7, 6.5, 6, 5.5, 5, 4.5 /min), 2-3 minutes each. Per segment,
from artefact-free RR intervals, three of the criteria of Shaffer & Meehan (2020, "A practical
guide to resonance frequency assessment") are measured:

- LF power (ms^2, density-scaled Lomb-Scargle of the linearly detrended NN, 0.04-0.15 Hz);
- LF peak height (the periodogram's maximum in that band, ms^2/Hz);
- peak-to-trough heart rate: mean over whole breaths of max - min of the HR curve (bpm).

Artefacts are judged against the mean of the two adjacent intervals (20 %), not against
dsp.hrv.clean_rr's median of 5 neighbours each side: at resonance the HR swings by 15-20 bpm
over 10-13 beats, and that median condemns the crests of the very oscillation we measure.

A segment is usable when it lasts at least `min_segment_s`, at most `max_artifact_share` of its
intervals were rejected, and its LF peak lies within `peak_tolerance_hz` of the paced rate (else
the heart is not following the pace: talking, movement, or a paced cue ignored). Each criterion
is divided by its maximum over usable segments and the three are averaged; the pace with the
highest score wins. Scores within `tie_margin` of the best count as ties, broken by the larger
peak-to-trough HR (the criterion a clinician reads off the screen), then by the pace nearest
6 /min. With fewer than `min_usable_segments` usable segments the estimate is refused
(`breaths_per_min` None, with the reason).

`confidence` is a heuristic in [0, 1], not a probability: the mean of (share of the three
criteria whose own maximum is the chosen pace) and (score margin over the runner-up / 0.2,
capped at 1). `at_range_edge` says the winner is the slowest or fastest pace tested, so the true
resonance may lie outside the tested range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from dsp.hrv.frequency import lomb_psd

FloatArray = npt.NDArray[np.float64]

_LF_HZ = (0.04, 0.15)
_GRID_HZ: FloatArray = np.arange(0.04, 0.15 + 1e-9, 0.001)
_HR_FS = 4.0  # HR curve resampling rate for the peak-to-trough criterion
_DEFAULT_PACE = 6.0


@dataclass(frozen=True, slots=True)
class PacedSegment:
    """RR intervals (ms) recorded while breathing at `breaths_per_min`, in recording order."""

    breaths_per_min: float
    rr_ms: FloatArray = field(repr=False)


@dataclass(frozen=True, slots=True)
class SegmentResult:
    breaths_per_min: float
    duration_s: float
    artifact_share: float
    lf_power_ms2: float
    lf_peak_hz: float
    lf_peak_height: float  # ms^2/Hz
    peak_to_trough_bpm: float
    score: float  # 0 when unusable
    problem: str | None  # why the segment is unusable; None when usable


@dataclass(frozen=True, slots=True)
class ResonanceEstimate:
    breaths_per_min: float | None  # None: refused, see reason
    confidence: float  # heuristic in [0, 1]; 0 when refused
    at_range_edge: bool
    reason: str | None
    segments: tuple[SegmentResult, ...]

    @property
    def frequency_hz(self) -> float | None:
        return None if self.breaths_per_min is None else self.breaths_per_min / 60.0


def artifact_free(rr_ms: FloatArray, *, max_relative_change: float = 0.2) -> npt.NDArray[np.bool_]:
    """Keep-mask: 300-2000 ms and within max_relative_change of the adjacent intervals' mean."""
    in_range = (rr_ms >= 300.0) & (rr_ms <= 2000.0)
    if rr_ms.size < 3:
        return in_range
    padded = np.concatenate(([rr_ms[1]], rr_ms, [rr_ms[-2]]))  # an end's one neighbour twice
    neighbours = 0.5 * (padded[:-2] + padded[2:])
    return in_range & (np.abs(rr_ms - neighbours) <= max_relative_change * neighbours)


def _peak_to_trough(t_s: FloatArray, nn_ms: FloatArray, pace: float) -> float:
    """Mean over whole breaths of the HR curve's range within the breath."""
    grid = np.arange(t_s[0], t_s[-1], 1.0 / _HR_FS)
    hr = np.interp(grid, t_s, 60000.0 / nn_ms)
    per_breath = round(_HR_FS * 60.0 / pace)
    n_breaths = hr.size // per_breath
    if n_breaths == 0:
        return float("nan")
    breaths = hr[: n_breaths * per_breath].reshape(n_breaths, per_breath)
    return float(np.mean(breaths.max(axis=1) - breaths.min(axis=1)))


def analyse_segment(
    segment: PacedSegment,
    *,
    min_segment_s: float = 120.0,
    max_artifact_share: float = 0.1,
    peak_tolerance_hz: float = 0.0125,
) -> SegmentResult:
    """The three criteria for one pace, or the reason the segment cannot be used."""
    pace = float(segment.breaths_per_min)
    if not 2.5 <= pace <= 9.0:
        raise ValueError(f"paced rate must be 2.5-9 breaths/min (the LF band), got {pace}")
    rr = np.asarray(segment.rr_ms, dtype=np.float64)
    if rr.ndim != 1 or not np.all(np.isfinite(rr)) or np.any(rr <= 0):
        raise ValueError("rr_ms must be a 1-D array of positive, finite intervals")
    duration = float(rr.sum() / 1000.0)
    keep = artifact_free(rr)
    artifact_share = float(1.0 - keep.mean()) if rr.size else 1.0
    nan = float("nan")
    problem: str | None = None
    if duration < min_segment_s:
        problem = f"{duration:.0f} s recorded, {min_segment_s:.0f} s needed"
    elif artifact_share > max_artifact_share:
        problem = f"{100 * artifact_share:.0f} % of intervals are artefacts"
    if problem is not None:
        return SegmentResult(pace, duration, artifact_share, nan, nan, nan, nan, 0.0, problem)
    t = np.cumsum(rr)[keep] / 1000.0
    nn = rr[keep]
    trend = np.polyval(np.polyfit(t, nn, 1), t)
    psd = lomb_psd(t, nn - trend, _GRID_HZ) * (nn.mean() / 1000.0)  # density scaling
    peak = int(np.argmax(psd))
    lf_power = float(psd.sum() * (_GRID_HZ[1] - _GRID_HZ[0]))
    if abs(_GRID_HZ[peak] - pace / 60.0) > peak_tolerance_hz:
        problem = f"LF peak at {60 * _GRID_HZ[peak]:.1f} /min, not at the paced {pace:g} /min"
    return SegmentResult(
        breaths_per_min=pace,
        duration_s=duration,
        artifact_share=artifact_share,
        lf_power_ms2=lf_power,
        lf_peak_hz=float(_GRID_HZ[peak]),
        lf_peak_height=float(psd[peak]),
        peak_to_trough_bpm=_peak_to_trough(t, nn, pace),
        score=0.0,
        problem=problem,
    )


def estimate_resonance(
    segments: Sequence[PacedSegment],
    *,
    min_usable_segments: int = 3,
    tie_margin: float = 0.02,
    min_segment_s: float = 120.0,
    max_artifact_share: float = 0.1,
) -> ResonanceEstimate:
    """Choose the pace that maximises the HR oscillation (criteria in the module docstring)."""
    if min_usable_segments < 2:
        raise ValueError(f"min_usable_segments must be at least 2, got {min_usable_segments}")
    paces = [float(s.breaths_per_min) for s in segments]
    if len(set(paces)) != len(paces):
        raise ValueError(f"each pace must appear once, got {sorted(paces)}")
    results = [
        analyse_segment(s, min_segment_s=min_segment_s, max_artifact_share=max_artifact_share)
        for s in segments
    ]
    usable = [r for r in results if r.problem is None]
    if len(usable) < min_usable_segments:
        problems = "; ".join(
            f"{r.breaths_per_min:g}/min: {r.problem}" for r in results if r.problem
        )
        reason = f"{len(usable)} usable segments, {min_usable_segments} needed"
        return ResonanceEstimate(
            None, 0.0, False, reason + (f" ({problems})" if problems else ""), tuple(results)
        )
    criteria = np.array([[r.lf_power_ms2, r.lf_peak_height, r.peak_to_trough_bpm] for r in usable])
    normalised = criteria / criteria.max(axis=0)
    scores = normalised.mean(axis=1)
    best = float(scores.max())
    tied = [i for i in range(len(usable)) if scores[i] >= best * (1.0 - tie_margin)]
    winner = max(
        tied,
        key=lambda i: (criteria[i, 2], -abs(usable[i].breaths_per_min - _DEFAULT_PACE)),
    )
    agreement = float(np.mean(np.argmax(criteria, axis=0) == winner))
    runner_up = float(np.max(np.delete(scores, winner)))
    margin = (float(scores[winner]) - runner_up) / float(scores[winner])
    confidence = 0.5 * agreement + 0.5 * min(1.0, max(margin, 0.0) / 0.2)
    scored = {id(r): float(s) for r, s in zip(usable, scores, strict=True)}
    results = [replace(r, score=scored.get(id(r), 0.0)) for r in results]
    pace = usable[winner].breaths_per_min
    usable_paces = [r.breaths_per_min for r in usable]
    return ResonanceEstimate(
        breaths_per_min=pace,
        confidence=confidence,
        at_range_edge=pace in (min(usable_paces), max(usable_paces)),
        reason=None,
        segments=tuple(results),
    )
