"""R-peaks on MIT-BIH 100 against its cardiologist labels; HRV on NSR2DB nsr001 against PCST."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.ecg import detect_r_peaks
from dsp.hrv import clean_rr, frequency_domain, poincare, sample_entropy, time_domain
from dsp.hrv.pcst_selection import pcst_nn_series, pcst_window_starts, window
from ingest.importers.wfdb import read_annotations, read_record
from validation.common import FloatArray, rel_err

PCST_FS = 125.0  # the rate the PCST reference was computed with (annotations are at 128 Hz)
TIME_KEYS = {"NNmean": "mean NN", "SDNN": "SDNN", "RMSSD": "RMSSD", "pnn50": "pNN50"}


def _nearest(x: npt.NDArray[Any], ref: npt.NDArray[Any]) -> FloatArray:
    j = np.clip(np.searchsorted(ref, x), 1, ref.size - 1)
    out: FloatArray = np.minimum(np.abs(ref[j] - x), np.abs(ref[j - 1] - x)).astype(float)
    return out


def rpeaks_mitdb100(data: Path) -> dict[str, float]:
    base = data / "ecg" / "mitdb100" / "100"
    record = read_record(base)
    beats = read_annotations(base.with_suffix(".atr")).beats()
    peaks = detect_r_peaks(record.lead("MLII"), record.fs)
    tol = 0.150 * record.fs
    return {
        "beats": float(beats.size),
        "detections": float(peaks.size),
        "sensitivity": float(np.mean(_nearest(beats, peaks) <= tol)),
        "ppv": float(np.mean(_nearest(peaks, beats) <= tol)),
    }


def _pcst_metrics(nn_ms: FloatArray, t_s: FloatArray) -> dict[str, float]:
    td = time_domain(nn_ms)  # no mask: differences across removed beats, as PCST takes them
    pc = poincare(nn_ms)
    fd = frequency_domain(t_s, nn_ms)
    return {
        "NNmean": td.mean_nn_ms,
        "SDNN": td.sdnn_ms,
        "RMSSD": td.rmssd_ms,
        "pnn50": td.pnn50_pct,  # percent; PCST prints a fraction, converted where it is read
        "SD1": pc.sd1_ms,
        "SD2": pc.sd2_ms,
        "lf": fd.lf_ms2,
        "hf": fd.hf_ms2,
        "lfhf": fd.lf_hf,
        "SampEn": sample_entropy(nn_ms, 2, 0.15),
    }


def hrv_nsr001(data: Path) -> dict[str, Any]:
    folder = data / "hrv" / "nsr2db"
    with (folder / "pcst_hrv_nsr001.csv").open(newline="") as f:
        ref_rows = list(csv.DictReader(f))
    ann = read_annotations(folder / "nsr001.ecg")
    t_all = np.cumsum(np.diff(ann.sample) / PCST_FS)
    samples = ann.sample[: np.count_nonzero(t_all < 7200.0) + 1]  # PCST's demo: first 2 h
    series = pcst_nn_series(samples, PCST_FS)
    starts = np.array([float(r["t_start"]) for r in ref_rows])
    ours = [_pcst_metrics(w.nn_ms, w.t_s) for w in (window(series, s) for s in starts)]
    keys = [*TIME_KEYS, "SD1", "SD2", "lf", "hf", "lfhf", "SampEn"]
    ref = {k: np.array([float(r[k]) for r in ref_rows]) for k in keys}
    ref["pnn50"] = ref["pnn50"] * 100.0  # PCST writes pNN50 as a fraction; ours is percent
    err = {k: rel_err(np.array([o[k] for o in ours]), ref[k]) for k in keys}
    # the live default: beat labels unknown, dsp.hrv.clean_rr, differences only between
    # intervals adjacent before rejection
    beats = ann.beats()[ann.beats() <= samples[-1]]
    rr = np.diff(beats) * (1000.0 / PCST_FS)
    t_rr = (beats[1:] - samples[0]) / PCST_FS
    keep = clean_rr(rr)
    live: dict[str, list[float]] = {k: [] for k in TIME_KEYS}
    for s in starts:
        inside = (t_rr >= s) & (t_rr < s + 300.0)
        td = time_domain(rr[inside], keep[inside])
        values = (td.mean_nn_ms, td.sdnn_ms, td.rmssd_ms, td.pnn50_pct)
        for k, v in zip(TIME_KEYS, values, strict=True):
            live[k].append(v)
    live_err = {k: rel_err(np.array(v), ref[k]) for k, v in live.items()}
    time_ok = np.all([err[k] <= 0.005 for k in TIME_KEYS], axis=0)
    pw = pcst_window_starts(series)
    return {
        "windows": len(ref_rows),
        "window_starts_match": bool(np.array_equal(pw, starts)),
        "share_within": {
            k: float(np.mean(err[k] <= (0.005 if k in TIME_KEYS else 0.01))) for k in keys
        },
        "median_rel_err": {k: float(np.median(err[k])) for k in keys},
        "max_rel_err": {k: float(np.max(err[k])) for k in keys},
        "time_share_within_0_5pct": float(np.mean(time_ok)),
        "poincare_share_within_1pct": float(np.mean((err["SD1"] <= 0.01) & (err["SD2"] <= 0.01))),
        "lomb_median_rel_err": float(max(np.median(err[k]) for k in ("lf", "hf", "lfhf"))),
        "live_share_within_0_5pct": {k: float(np.mean(v <= 0.005)) for k, v in live_err.items()},
    }
