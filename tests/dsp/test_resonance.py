"""Resonance breathing: synthetic RR whose HR oscillation peaks at a known pace, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.hrv import PacedSegment, artifact_free, estimate_resonance

PACES = (7.0, 6.5, 6.0, 5.5, 5.0, 4.5)


def paced_rr(
    pace: float,
    *,
    resonance: float,
    seconds: float = 150.0,
    seed: int = 0,
    peak_amplitude_bpm: float = 12.0,
    noise_ms: float = 8.0,
) -> np.ndarray:
    """RR (ms) of a heart whose rate swings at the breathing pace, most at `resonance`.

    HR(t) = 65 + A sin(2 pi pace t / 60) with A a resonance curve (half-width 0.8 /min); beats
    fall where the integral of HR/60 crosses an integer; Gaussian jitter is added to each RR.
    """
    rng = np.random.default_rng(seed)
    amplitude = peak_amplitude_bpm / (1.0 + ((pace - resonance) / 0.8) ** 2)
    dt = 0.005
    t = np.arange(0.0, seconds, dt)
    hr = 65.0 + amplitude * np.sin(2 * np.pi * pace / 60.0 * t)
    phase = np.cumsum(hr / 60.0 * dt)
    beat_times = t[np.searchsorted(phase, np.arange(1, int(phase[-1])))]
    rr = np.diff(np.concatenate(([0.0], beat_times))) * 1000.0
    return rr + rng.normal(0.0, noise_ms, rr.size)


def protocol(resonance: float, *, seed: int = 0, seconds: float = 150.0) -> list[PacedSegment]:
    return [
        PacedSegment(p, paced_rr(p, resonance=resonance, seed=seed + i, seconds=seconds))
        for i, p in enumerate(PACES)
    ]


@pytest.mark.parametrize("resonance", [4.5, 5.0, 5.5, 6.0, 6.5, 7.0])
def test_finds_the_resonant_pace(resonance: float) -> None:
    estimate = estimate_resonance(protocol(resonance))
    assert estimate.breaths_per_min == resonance
    assert estimate.frequency_hz == pytest.approx(resonance / 60.0)
    assert estimate.confidence >= 0.9 and estimate.reason is None
    assert estimate.at_range_edge == (resonance in (4.5, 7.0))
    best = max(estimate.segments, key=lambda s: s.score)
    assert best.breaths_per_min == resonance and best.score == 1.0


@settings(max_examples=12, deadline=None)
@given(resonance=st.sampled_from(PACES), seed=st.integers(0, 10_000))
def test_any_noise_seed_finds_the_resonant_pace(resonance: float, seed: int) -> None:
    assert estimate_resonance(protocol(resonance, seed=seed)).breaths_per_min == resonance


def test_resonance_between_paces_gives_the_nearest_with_less_confidence() -> None:
    on_grid = estimate_resonance(protocol(5.5))
    between = estimate_resonance(protocol(5.3))
    print(
        f"confidence on the grid {on_grid.confidence:.2f}, between paces {between.confidence:.2f}"
    )
    assert between.breaths_per_min == 5.5
    assert between.confidence < on_grid.confidence


def test_peak_to_trough_reads_the_hr_swing() -> None:
    # 12 bpm amplitude at resonance: the HR curve spans about 24 bpm per breath
    estimate = estimate_resonance(protocol(6.0))
    at_six = next(s for s in estimate.segments if s.breaths_per_min == 6.0)
    assert at_six.peak_to_trough_bpm == pytest.approx(24.0, rel=0.05)
    assert at_six.lf_peak_hz == pytest.approx(0.1, abs=0.002)


def test_ties_go_to_the_larger_peak_to_trough() -> None:
    estimate = estimate_resonance(protocol(6.0), tie_margin=1.0)  # every pace ties
    usable = [s for s in estimate.segments if s.problem is None]
    assert (
        estimate.breaths_per_min == max(usable, key=lambda s: s.peak_to_trough_bpm).breaths_per_min
    )


def test_short_segments_are_refused_with_a_reason() -> None:
    estimate = estimate_resonance(protocol(5.5, seconds=90.0))
    assert estimate.breaths_per_min is None and estimate.frequency_hz is None
    assert estimate.confidence == 0.0
    assert estimate.reason is not None and "0 usable segments, 3 needed" in estimate.reason
    assert "120 s needed" in estimate.reason


def _with_ectopics(rr: np.ndarray, every: int) -> np.ndarray:
    noisy = rr.copy()
    noisy[::every] *= 0.6  # premature beat
    noisy[1::every] *= 1.4  # compensatory pause
    return noisy


def test_noisy_segments_are_left_out_or_refused() -> None:
    segments = protocol(5.0)
    noisy_one = [
        PacedSegment(s.breaths_per_min, _with_ectopics(s.rr_ms, 5))
        if s.breaths_per_min == 6.0
        else s
        for s in segments
    ]
    estimate = estimate_resonance(noisy_one)
    assert estimate.breaths_per_min == 5.0
    six = next(s for s in estimate.segments if s.breaths_per_min == 6.0)
    assert six.problem is not None and "artefacts" in six.problem and six.score == 0.0
    all_noisy = [PacedSegment(s.breaths_per_min, _with_ectopics(s.rr_ms, 5)) for s in segments]
    refused = estimate_resonance(all_noisy)
    assert refused.breaths_per_min is None and refused.reason is not None
    assert "artefacts" in refused.reason


def test_heart_not_following_the_pace_is_not_used() -> None:
    rng = np.random.default_rng(5)
    flat = [PacedSegment(p, 900.0 + rng.normal(0.0, 15.0, 170)) for p in PACES]
    refused = estimate_resonance(flat)
    assert refused.breaths_per_min is None
    assert all(s.problem is None or "LF peak" in s.problem for s in refused.segments)
    assert sum("LF peak" in (s.problem or "") for s in refused.segments) >= 4


def test_artifact_mask_keeps_large_slow_swings() -> None:
    rr = paced_rr(6.0, resonance=6.0, noise_ms=0.0)
    assert artifact_free(rr).all()
    assert not artifact_free(_with_ectopics(rr, 7)).all()
    assert artifact_free(np.array([250.0, 800.0])).tolist() == [False, True]


def test_bad_input_raises() -> None:
    rr = paced_rr(6.0, resonance=6.0)
    with pytest.raises(ValueError, match="once"):
        estimate_resonance([PacedSegment(6.0, rr), PacedSegment(6.0, rr)])
    with pytest.raises(ValueError, match=r"2\.5-9"):
        estimate_resonance([PacedSegment(12.0, rr)])
    with pytest.raises(ValueError, match="positive"):
        estimate_resonance([PacedSegment(6.0, -rr)])
    with pytest.raises(ValueError, match="at least 2"):
        estimate_resonance([PacedSegment(6.0, rr)], min_usable_segments=1)


def realistic_rr(pace: float, resonance: float, seed: int) -> np.ndarray:
    """paced_rr plus a 0.02 Hz swing (40 ms), a random walk, 15 ms jitter and 2 % ectopic pairs."""
    rng = np.random.default_rng(seed)
    rr = paced_rr(pace, resonance=resonance, seed=seed, noise_ms=15.0)
    t = np.cumsum(rr) / 1000.0
    rr += 40.0 * np.sin(2 * np.pi * 0.02 * t + rng.uniform(0.0, 2 * np.pi))
    rr += np.cumsum(rng.normal(0.0, 3.0, rr.size))
    ectopic = rng.choice(np.arange(5, rr.size - 5), size=int(0.02 * rr.size), replace=False)
    rr[ectopic] *= 0.65
    rr[ectopic + 1] *= 1.35
    return rr


def test_drift_jitter_and_ectopics_do_not_move_the_estimate() -> None:
    hits, trials, shares = 0, 0, []
    for resonance in PACES:
        for seed in (11, 23, 37):
            segments = [
                PacedSegment(p, realistic_rr(p, resonance, seed + i)) for i, p in enumerate(PACES)
            ]
            estimate = estimate_resonance(segments)
            hits += estimate.breaths_per_min == resonance
            trials += 1
            shares += [s.artifact_share for s in estimate.segments]
    print(f"realistic RR: {hits}/{trials} correct; artefact share up to {max(shares):.3f}")
    assert hits == trials
    assert 0.02 < max(shares) <= 0.1  # the ectopics are caught, and the segments still used
