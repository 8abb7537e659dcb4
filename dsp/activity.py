"""Movement intensity from a tri-axial accelerometer, in g.

ENMO (Euclidean norm minus one g) is the open, device-independent measure used by GGIR and the
UK Biobank, so thresholds from that literature carry over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_EPOCH_S = 1.0  # motion is judged per second, so one jolt does not count as a second of motion


def enmo_g(acc_g: npt.ArrayLike) -> FloatArray:
    """Per-sample ENMO: |a| - 1 g, clipped at 0 (gravity alone reads 0, free fall not below)."""
    acc = np.asarray(acc_g, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise ValueError(f"acc_g must have shape (n, 3), got {acc.shape}")
    norm: FloatArray = np.sqrt(np.einsum("ij,ij->i", acc, acc))
    return np.maximum(norm - 1.0, 0.0)


@dataclass(frozen=True, slots=True)
class ActivitySummary:
    """mean_enmo_g over all samples; max_enmo_g and motion_fraction over 1 s epoch means."""

    mean_enmo_g: float
    max_enmo_g: float
    motion_fraction: float  # share of epochs whose mean ENMO exceeds the motion threshold


def activity_summary(
    acc_g: npt.ArrayLike, fs: float, *, motion_threshold_g: float = 0.1
) -> ActivitySummary:
    """Summarise a window of acceleration (n, 3) in g sampled at fs Hz.

    ENMO is averaged per 1 s epoch (a shorter trailing remainder forms its own epoch; a window
    shorter than 1 s is one epoch) before the maximum and the motion fraction are taken, so
    sensor spikes of a sample or two do not dominate. An empty window gives NaNs.
    """
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    enmo = enmo_g(acc_g)
    if enmo.size == 0:
        nan = float("nan")
        return ActivitySummary(nan, nan, nan)
    per_epoch = max(1, round(_EPOCH_S * fs))
    starts = np.arange(0, enmo.size, per_epoch)
    counts = np.diff(np.append(starts, enmo.size))
    epochs = np.add.reduceat(enmo, starts) / counts
    return ActivitySummary(
        mean_enmo_g=float(enmo.mean()),
        max_enmo_g=float(epochs.max()),
        motion_fraction=float(np.mean(epochs > motion_threshold_g)),
    )
