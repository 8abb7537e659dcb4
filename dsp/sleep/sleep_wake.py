"""Sleep/wake per 60 s epoch from ActiGraph axis-1 (vertical) activity counts.

Both scorers follow ActiLife 6 as actigraph.sleepr documents it (ActiLife 6 User's Manual,
2012), which is what ActiLife's own exports agree with minute by minute; the published papers
differ in scaling, so these are not interchangeable with other implementations:

- Cole-Kripke (1992, adults): counts / 100, capped at 300; SI = 0.001 x (106 A-4 + 54 A-3 +
  58 A-2 + 76 A-1 + 230 A0 + 74 A+1 + 67 A+2); sleep when SI < 1.
- Sadeh (1994, adolescents): counts capped at 300, not divided; PS = 7.601 - 0.065 mean11 -
  1.08 NATS11 - 0.056 SD6 - 0.703 ln(A0 + 1); sleep when PS > -4. mean11 and NATS11 (epochs with
  50 <= A < 100) span the epoch and 5 on each side; SD6 (ddof=1) the epoch and 5 before it.

Missing neighbours at either end count as zero-count epochs, as in ActiLife.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_CK_WEIGHTS = np.array([106.0, 54.0, 58.0, 76.0, 230.0, 74.0, 67.0]) * 0.001  # A-4 ... A+2
_CK_BEFORE, _CK_AFTER = 4, 2
_SADEH_HALF = 5


def _counts(axis1_counts: npt.ArrayLike) -> FloatArray:
    x = np.asarray(axis1_counts, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("axis1_counts must be one-dimensional (one value per 60 s epoch)")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError("counts must be finite and non-negative")
    return x


def cole_kripke_index(axis1_counts: npt.ArrayLike) -> FloatArray:
    """ActiLife's Cole-Kripke sleep index per epoch (sleep when < 1)."""
    scaled = np.minimum(_counts(axis1_counts) / 100.0, 300.0)
    padded = np.concatenate((np.zeros(_CK_BEFORE), scaled, np.zeros(_CK_AFTER)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, _CK_WEIGHTS.size)
    index: FloatArray = windows @ _CK_WEIGHTS
    return index


def cole_kripke(axis1_counts: npt.ArrayLike) -> BoolArray:
    """True = asleep, per 60 s epoch of axis-1 counts (ActiLife's Cole-Kripke)."""
    return np.asarray(cole_kripke_index(axis1_counts) < 1.0, dtype=np.bool_)


def sadeh_index(axis1_counts: npt.ArrayLike) -> FloatArray:
    """ActiLife's Sadeh probability-of-sleep score per epoch (sleep when > -4)."""
    x = np.minimum(_counts(axis1_counts), 300.0)
    h = _SADEH_HALF
    centred = np.lib.stride_tricks.sliding_window_view(
        np.concatenate((np.zeros(h), x, np.zeros(h))), 2 * h + 1
    )
    trailing = np.lib.stride_tricks.sliding_window_view(np.concatenate((np.zeros(h), x)), h + 1)
    nats = np.count_nonzero((centred >= 50) & (centred < 100), axis=1)
    score: FloatArray = (
        7.601
        - 0.065 * centred.mean(axis=1)
        - 1.08 * nats
        - 0.056 * trailing.std(axis=1, ddof=1)
        - 0.703 * np.log(x + 1.0)
    )
    return score


def sadeh(axis1_counts: npt.ArrayLike) -> BoolArray:
    """True = asleep, per 60 s epoch of axis-1 counts (ActiLife's Sadeh)."""
    return np.asarray(sadeh_index(axis1_counts) > -4.0, dtype=np.bool_)
