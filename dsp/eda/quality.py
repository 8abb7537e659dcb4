"""Which EDA samples are physiologically implausible, by Kleckner et al.'s (2018) rules.

Kleckner, I. R. et al. (2018), "Simple, transparent, and flexible automated quality
assessment procedures for ambulatory electrodermal activity data", IEEE TBME 65(7): a sample is
invalid when skin conductance lies outside 0.05-60 µS (below: the electrode has lost contact or
the skin is too dry to measure; above: a short circuit) or changes faster than 10 µS/s (no
sweat gland does that; a moved electrode does), and so is everything within 5 s of an invalid
sample. Their fourth rule needs skin temperature, which not every EDA sensor reports.

Like `dsp.eda.motion`, this flags rather than drops: the caller decides whether to score a
window, and a flagged sample stays in place so times still line up.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]

MIN_US = 0.05
MAX_US = 60.0
MAX_SLOPE_US_PER_S = 10.0
MARGIN_S = 5.0


def dilate(mask: BoolArray, radius: int) -> BoolArray:
    """True wherever a True lies within radius samples (a running count over 2 radius + 1)."""
    if radius <= 0 or mask.size == 0:
        return mask.copy()
    counts = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    idx = np.arange(mask.size)
    hi = np.minimum(idx + radius + 1, mask.size)
    lo = np.maximum(idx - radius, 0)
    out: BoolArray = counts[hi] - counts[lo] > 0
    return out


def implausible_eda_mask(
    eda_us: npt.ArrayLike,
    fs: float,
    *,
    min_us: float = MIN_US,
    max_us: float = MAX_US,
    max_slope_us_per_s: float = MAX_SLOPE_US_PER_S,
    margin_s: float = MARGIN_S,
) -> BoolArray:
    """One flag per sample of EDA (µS at fs Hz): out of range, too steep, non-finite, or near
    one of those. Non-finite samples are flagged, not rejected: this is the place to find them."""
    if not fs > 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    if not 0 <= min_us < max_us or max_slope_us_per_s <= 0 or margin_s < 0:
        raise ValueError("need 0 <= min_us < max_us, max_slope_us_per_s > 0 and margin_s >= 0")
    x = np.asarray(eda_us, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("eda_us must be one-dimensional")
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(x) | (x < min_us) | (x > max_us)
        steep = np.abs(np.diff(x)) * fs > max_slope_us_per_s
    bad[:-1] |= steep
    bad[1:] |= steep
    return dilate(bad, round(margin_s * fs))
