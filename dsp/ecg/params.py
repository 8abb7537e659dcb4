"""The R-peak detector's constants (dsp.ecg), shared by its numpy path and its fused kernel."""

from __future__ import annotations

BAND_HZ = (5.0, 15.0)  # where QRS energy dominates P/T waves and baseline wander
HIGHPASS_HZ = 0.5  # the baseline the R wave is placed against
INTEGRATION_S = 0.150  # about one QRS width
CANDIDATE_HALF_S = 0.100  # candidates are maxima of the integrated signal within +-100 ms
REFRACTORY_S = 0.250  # no second beat this soon: faster than 240 bpm is not a heart
T_WAVE_S = 0.360  # within this, a low-slope candidate is taken for a T wave
SEARCH_HALF_S = 0.075  # from the integrated peak to the band-passed extremum
REFINE_HALF_S = 0.050  # from there to the R wave itself
DETECTION_HZ = 120.0  # detection runs at fs // this-fold block means (see dsp.ecg._coarse)
STALE_S = 4.0  # this long without a beat and the levels restart (see _decide_kernel)
INITIAL_S = 10.0  # the initial levels come from this much signal ...
INITIAL_BLOCK_S = 2.0  # ... as the median of the maxima of blocks this long


def detection_factor(fs: float, *, full_rate: bool) -> int:
    """D of the block means detection runs on: fs // 120 (at least 1), or 1 at full rate."""
    return 1 if full_rate else max(1, int(fs // DETECTION_HZ))
