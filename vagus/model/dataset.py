"""The WESAD wrist-feature table as the stress model sees it: columns, transforms, baselines.

Shared by training and by the gateway's feature contract: which CSV columns become which model
inputs, which are log-transformed, which windows are implausible (caveat 3 of the data README),
and the per-subject calibration-period z-scoring that the gateway repeats per patient.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dsp.stress import SCALE_FLOORS, floor_vector

FloatArray = npt.NDArray[np.float64]

CLIP = 8.0  # calibration SDs; beyond this a value is an artefact, not a stronger stress signal
MIN_SD = 1e-9  # a feature constant over calibration is left unscaled (sd 1)
# Plausibility on raw values: windows outside are scored but never fitted to (data caveat 3).
MEAN_RR_MS = (300.0, 1500.0)
MAX_RMSSD_MS = 1000.0
# Exact duplicates of kept columns (mean HR z equals mean RR z; SD1 equals SDSD), and the
# columns no gateway sensor provides.
_DUPLICATES = {"z_hrv_mean_hr", "z_hrv_sd1"}
_RAW_ONLY = ("hrv_lf_hf_ratio", "eda_skewness", "eda_kurtosis")
# Taken in their own units instead of the table's whole-session z: a scale floor
# (dsp.stress.SCALE_FLOORS) is in those units. A subject's z is an affine map of the raw value,
# so against the same calibration the z-scores are otherwise the same.
_RAW_INSTEAD = {"z_scr_peak_count": "raw_scr_peak_count"}
LOG_TRANSFORMED = {"hrv_lf_hf_ratio"}


@dataclass(frozen=True, slots=True)
class Dataset:
    """Features (transformed, not yet normalised) and labels of every window, subject-sorted."""

    features: list[str]  # gateway-side names, in model input order
    columns: list[str]  # the CSV column each feature comes from
    values: FloatArray
    stress: npt.NDArray[np.int_]
    subjects: npt.NDArray[np.str_]
    calibration: npt.NDArray[np.bool_]
    plausible: npt.NDArray[np.bool_]
    sha256: str


def feature_columns(
    header: list[str], with_temperature: bool, raw_counts: bool = True
) -> list[str]:
    """Chest-strap HRV, EDA and accelerometer features; skin temperature only when asked; the
    SCR count in responses unless ``raw_counts`` is off (the table's z, as the comparison MLP
    was evaluated: its lbfgs fit moves with the last bits of an affine change of one input)."""
    z = [c for c in header if c.startswith("z_") and c not in _DUPLICATES]
    z = [c for c in z if with_temperature or "temp" not in c]
    if raw_counts:
        z = [_RAW_INSTEAD[c] if _RAW_INSTEAD.get(c) in header else c for c in z]
    acc = [c for c in header if c.startswith("acc_")]
    return z + [c for c in _RAW_ONLY if c in header] + acc


def load(path: Path, with_temperature: bool = False, raw_counts: bool = True) -> Dataset:
    raw = path.read_bytes()
    rows = list(csv.DictReader(raw.decode().splitlines()))
    rows.sort(key=lambda r: (r["subject_id"], float(r["time_end_sec"])))
    columns = feature_columns(list(rows[0]), with_temperature, raw_counts)
    values = np.array([[float(r[c]) for c in columns] for r in rows])
    for j, column in enumerate(columns):
        if column in LOG_TRANSFORMED:
            values[:, j] = np.log(values[:, j])
    mean_rr = np.array([float(r["raw_hrv_mean_hr"]) for r in rows])  # the column holds RR in ms
    rmssd = np.array([float(r["raw_hrv_rmssd"]) for r in rows])
    return Dataset(
        features=[c.removeprefix("z_").removeprefix("raw_") for c in columns],
        columns=columns,
        values=values,
        stress=np.array([r["label"] == "stress" for r in rows], dtype=np.int_),
        subjects=np.array([r["subject_id"] for r in rows]),
        calibration=np.array([r["raw_label"] == "1" for r in rows]),
        plausible=(mean_rr >= MEAN_RR_MS[0]) & (mean_rr <= MEAN_RR_MS[1]) & (rmssd <= MAX_RMSSD_MS),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def scale_floors(data: Dataset) -> FloatArray:
    """dsp.stress.SCALE_FLOORS for the table's features, in its column order."""
    return floor_vector(data.features, SCALE_FLOORS)


def normalise(data: Dataset) -> FloatArray:
    """Each subject against the mean and SD of their own plausible calibration windows: the
    comparison's normalisation (the whole baseline condition), kept as the previous model had
    it, without the scale floors of the runtime protocol (vagus.model.nested.normalise_first)."""
    out = np.empty_like(data.values)
    for subject in np.unique(data.subjects):
        rows = data.subjects == subject
        reference = data.values[rows & data.calibration & data.plausible]
        mean = reference.mean(axis=0)
        sd = reference.std(axis=0, ddof=1)
        sd = np.where(sd > MIN_SD, sd, 1.0)
        out[rows] = np.clip((data.values[rows] - mean) / sd, -CLIP, CLIP)
    return out
