"""Per-modality effectiveness: the mean change after a session, with a 95 % confidence interval.

Each evaluated session contributes its change (median after minus median before, from the
worker's ``session_evaluation``). The interval is Student's t: mean ± t(0.975, n-1) · s / √n,
which assumes roughly normal changes and independent sessions; with one session there is no
interval. Not an estimate of a causal effect: sessions start when stress is high, so some
recovery would follow anyway; the micro-randomised comparison (console/randomised_effect.py)
is what estimates the effect.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

#: Two-sided 95 % quantiles of Student's t, t(0.975, df), df = 1..30 (standard tables).
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
#: The normal quantile, the start of the expansion used beyond the table.
Z_975 = 1.959964


@dataclass(frozen=True, slots=True)
class Effect:
    """One modality's mean change of one metric over ``n`` sessions."""

    modality: str
    metric: str
    n: int
    mean: float
    low: float | None
    high: float | None


def t_975(df: int) -> float:
    """t(0.975, df): the table up to df 30, then the Cornish-Fisher expansion of t about the
    normal quantile (three terms; within 0.01 % of the exact value from df 31 on)."""
    if df < 1:
        raise ValueError("a t quantile needs at least one degree of freedom")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def effect(modality: str, metric: str, changes: list[float]) -> Effect | None:
    """The mean of ``changes`` and its 95 % interval (``None`` for no sessions)."""
    values = [c for c in changes if math.isfinite(c)]
    if not values:
        return None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Effect(modality, metric, 1, mean, None, None)
    half = t_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Effect(modality, metric, len(values), mean, mean - half, mean + half)
