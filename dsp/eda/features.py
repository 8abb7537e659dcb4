"""Per-window EDA summaries: skin conductance level (SCL) statistics and SCR statistics.

Plain numpy (a handful of reductions per window; nothing here is worth a numba kernel). Every
figure is in µS, seconds or per minute; a statistic of no responses is NaN, not 0, so a model
or a baseline never mistakes "no SCR" for "an SCR of size 0".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dsp.eda.scr_record import ScrSet, as_eda_array


@dataclass(frozen=True, slots=True)
class SclStats:
    """Level statistics of a window: µS, and µS per second for the slope."""

    mean_us: float
    std_us: float  # population (ddof 0): a window is the whole population described
    slope_us_per_s: float  # least-squares line through the window: drift of the level
    min_us: float
    max_us: float
    median_us: float


@dataclass(frozen=True, slots=True)
class ScrStats:
    """Response statistics of a window; amplitude, rise and recovery NaN when count is 0."""

    count: int
    rate_per_min: float
    amplitude_mean_us: float
    amplitude_max_us: float
    amplitude_std_us: float
    amplitude_sum_us: float
    rise_time_mean_s: float
    half_recovery_time_mean_s: float  # over the responses that recovered; NaN if none did


def scl_statistics(level_us: npt.ArrayLike, fs: float) -> SclStats:
    """Statistics of a skin conductance level signal (µS at fs Hz).

    Pass the tonic component (`dsp.eda.phasic.decompose_eda(...).tonic_us`) for the level
    proper, or the cleaned signal (`dsp.eda.clean_eda`) for a window too short for a 0.05 Hz
    filter to settle (under about 60 s).
    """
    x = as_eda_array(level_us, fs)
    if x.size < 2:
        raise ValueError(f"need at least 2 samples for SCL statistics, got {x.size}")
    t = np.arange(x.size) / fs
    t_centred = t - t.mean()
    slope = float(np.dot(t_centred, x - x.mean()) / np.dot(t_centred, t_centred))
    return SclStats(
        mean_us=float(x.mean()),
        std_us=float(x.std()),
        slope_us_per_s=slope,
        min_us=float(x.min()),
        max_us=float(x.max()),
        median_us=float(np.median(x)),
    )


def scr_statistics(scrs: ScrSet, duration_s: float) -> ScrStats:
    """Count, rate and size of the responses detected in a window of duration_s seconds."""
    if not duration_s > 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    count = len(scrs)
    recovered = scrs.half_recovery_time_s[np.isfinite(scrs.half_recovery_time_s)]
    if count == 0:
        nan = float("nan")
        return ScrStats(0, 0.0, nan, nan, nan, 0.0, nan, nan)
    amplitude = scrs.amplitude_us
    return ScrStats(
        count=count,
        rate_per_min=60.0 * count / duration_s,
        amplitude_mean_us=float(amplitude.mean()),
        amplitude_max_us=float(amplitude.max()),
        amplitude_std_us=float(amplitude.std()),
        amplitude_sum_us=float(amplitude.sum()),
        rise_time_mean_s=float(scrs.rise_time_s.mean()),
        half_recovery_time_mean_s=float(recovered.mean()) if recovered.size else float("nan"),
    )
