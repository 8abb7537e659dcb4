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

Both were fitted on 60 s epochs of one count scale, so every scorer takes ``epoch_s`` and
``count_scale`` explicitly: shorter epochs that divide a minute (1, 2, 5, 10, 15, 20, 30 s) are
summed into minutes as ActiLife does, anything else is refused, and so are counts of another
device family (an Actiwatch count is not an ActiGraph count; no fixed factor converts them).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_CK_WEIGHTS = np.array([106.0, 54.0, 58.0, 76.0, 230.0, 74.0, 67.0]) * 0.001  # A-4 ... A+2
_CK_BEFORE, _CK_AFTER = 4, 2
_SADEH_HALF = 5

#: Count scales an actigraphy export can carry; the scorers accept the first only.
CountScale = Literal["actigraph-axis1", "actiwatch"]
ACTIGRAPH_AXIS1: CountScale = "actigraph-axis1"  # ActiGraph axis-1 (vertical) counts, ActiLife
SCORED_EPOCH_S = 60.0  # the epoch both scorers were fitted on


def minute_counts(
    counts: npt.ArrayLike,
    *,
    epoch_s: float,
    count_scale: CountScale,
    incomplete_last_minute: Literal["refuse", "sum"] = "refuse",
) -> FloatArray:
    """Counts per 60 s epoch from epochs of ``epoch_s`` (summed per minute, as ActiLife does).

    Raises ValueError for another count scale or an epoch that does not divide a minute. A last
    minute with fewer epochs is refused unless ``incomplete_last_minute="sum"``, which sums what
    there is, as ActiLife's 60 s export does.
    """
    if count_scale != ACTIGRAPH_AXIS1:
        raise ValueError(
            f"Cole-Kripke and Sadeh need ActiGraph axis-1 counts ({ACTIGRAPH_AXIS1}), "
            f"not {count_scale}: no fixed factor converts one device's counts to another's"
        )
    x = np.asarray(counts, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("counts must be one-dimensional (one value per epoch)")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError("counts must be finite and non-negative")
    per_minute = SCORED_EPOCH_S / epoch_s if epoch_s > 0 else 0.0
    if per_minute < 1 or per_minute != round(per_minute):
        raise ValueError(
            f"epochs of {epoch_s:g} s cannot be scored: the scorers need 60 s epochs, or shorter "
            "ones that divide a minute (summed into minutes)"
        )
    group = round(per_minute)
    if x.size % group and incomplete_last_minute != "sum":
        raise ValueError(
            f"{x.size} epochs of {epoch_s:g} s leave {x.size % group} outside a whole minute"
        )
    padded = np.concatenate((x, np.zeros(-x.size % group)))
    minutes: FloatArray = padded.reshape(-1, group).sum(axis=1)
    return minutes


def cole_kripke_index(
    counts: npt.ArrayLike, *, epoch_s: float, count_scale: CountScale
) -> FloatArray:
    """ActiLife's Cole-Kripke sleep index per minute (sleep when < 1)."""
    per_minute = minute_counts(counts, epoch_s=epoch_s, count_scale=count_scale)
    scaled = np.minimum(per_minute / 100.0, 300.0)
    padded = np.concatenate((np.zeros(_CK_BEFORE), scaled, np.zeros(_CK_AFTER)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, _CK_WEIGHTS.size)
    index: FloatArray = windows @ _CK_WEIGHTS
    return index


def cole_kripke(counts: npt.ArrayLike, *, epoch_s: float, count_scale: CountScale) -> BoolArray:
    """True = asleep, per minute (ActiLife's Cole-Kripke)."""
    index = cole_kripke_index(counts, epoch_s=epoch_s, count_scale=count_scale)
    return np.asarray(index < 1.0, dtype=np.bool_)


def sadeh_index(counts: npt.ArrayLike, *, epoch_s: float, count_scale: CountScale) -> FloatArray:
    """ActiLife's Sadeh probability-of-sleep score per minute (sleep when > -4)."""
    x = np.minimum(minute_counts(counts, epoch_s=epoch_s, count_scale=count_scale), 300.0)
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


def sadeh(counts: npt.ArrayLike, *, epoch_s: float, count_scale: CountScale) -> BoolArray:
    """True = asleep, per minute (ActiLife's Sadeh)."""
    index = sadeh_index(counts, epoch_s=epoch_s, count_scale=count_scale)
    return np.asarray(index > -4.0, dtype=np.bool_)
