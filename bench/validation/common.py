"""What the validation checks share: where the data is, relative error, and an interval for a
proportion."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data"
FloatArray = npt.NDArray[np.float64]


def rel_err(ours: FloatArray, ref: FloatArray) -> FloatArray:
    """|ours - ref| / |ref|; where ref is 0 (pNN50 often is), 0 if ours is 0 too, else inf."""
    diff = np.abs(ours - ref)
    err: FloatArray = np.where(ref == 0, np.where(diff == 0, 0.0, np.inf), diff)
    np.divide(err, np.abs(ref), out=err, where=ref != 0)
    return err


def wilson_interval(hits: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval (95 % at z 1.96) for hits out of trials, each trial independent.

    Unlike hits/trials +- z x SE it stays inside [0, 1] and is not zero-width at 100 %: 1883
    of 1883 beats still leaves the sensitivity somewhere above 99.8 %."""
    if trials <= 0:
        return (0.0, 1.0)
    share = hits / trials
    spread = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    centre = share + z * z / (2 * trials)
    scale = 1 + z * z / trials
    low = 0.0 if hits == 0 else max(0.0, (centre - spread) / scale)
    high = 1.0 if hits == trials else min(1.0, (centre + spread) / scale)  # exact, not 1 - 2e-16
    return (low, high)
