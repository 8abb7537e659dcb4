"""What the validation checks share: where the data is, and relative error."""

from __future__ import annotations

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
