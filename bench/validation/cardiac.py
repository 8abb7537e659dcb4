"""R-peaks on every annotated ECG record against its cardiologist labels; HRV on NSR2DB nsr001
against PCST."""

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
from validation.common import FloatArray, rel_err, wilson_interval

PCST_FS = 125.0  # the rate the PCST reference was computed with (annotations are at 128 Hz)
TIME_KEYS = {"NNmean": "mean NN", "SDNN": "SDNN", "RMSSD": "RMSSD", "pnn50": "pNN50"}


def matched_beats(
    reference: npt.NDArray[np.int64], detected: npt.NDArray[np.int64], tol: float
) -> int:
    """Pairs of one annotated beat and one detection at most tol samples apart, each used once.

    Both sorted: each beat in turn takes the earliest unused detection within tol; with one
    tolerance for all beats this greedy pairing is a maximum matching."""
    hits, j = 0, 0
    for beat in reference:
        while j < detected.size and detected[j] < beat - tol:
            j += 1
        if j < detected.size and detected[j] <= beat + tol:
            hits += 1
            j += 1
    return hits


def annotated_records(data: Path) -> dict[str, Path]:
    """{folder name: record base path} for every folder under data/ecg with a .hea and a .atr."""
    found: dict[str, Path] = {}
    for folder in sorted(p for p in (data / "ecg").iterdir() if p.is_dir()):
        for atr in sorted(folder.glob("*.atr")):
            if atr.with_suffix(".hea").is_file():
                found[folder.name] = atr.with_suffix("")
                break
    return found


def score_record(base: Path) -> dict[str, float]:
    """R-peaks on the record's first signal against every beat annotation (non-beat codes such
    as '+', '~', '|' and '"' dropped), noisy stretches included: one-to-one within 150 ms; with
    the matched pairs, so an interval can be put on each share."""
    record = read_record(base)
    beats = read_annotations(base.with_suffix(".atr")).beats()
    peaks = detect_r_peaks(record.signals_mv[:, 0], record.fs)
    hits = matched_beats(beats, peaks, 0.150 * record.fs)
    return {
        "fs": float(record.fs),
        "beats": float(beats.size),
        "detections": float(peaks.size),
        "hits": float(hits),
        "sensitivity": hits / beats.size if beats.size else 0.0,
        "ppv": hits / peaks.size if peaks.size else 0.0,
    }


def rpeaks_records(data: Path) -> dict[str, dict[str, float]]:
    """score_record on every annotated record under data/ecg, by folder name."""
    return {name: score_record(base) for name, base in annotated_records(data).items()}


def rpeak_intervals(r: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Wilson 95 % intervals of a scored record's sensitivity (hits of its beats) and PPV (hits
    of its detections). Beats are taken as independent; a detector's misses cluster in noisy
    stretches, so the true uncertainty is somewhat wider."""
    hits = int(r["hits"])
    return {
        "sensitivity": wilson_interval(hits, int(r["beats"])),
        "ppv": wilson_interval(hits, int(r["detections"])),
    }


def rpeak_summary(records: dict[str, dict[str, float]]) -> dict[str, Any]:
    """rpeak_<record>_sensitivity / _ppv per record with their 95 % intervals (``_ci95``), and
    the minima over all of them."""
    out: dict[str, Any] = {}
    for name, r in records.items():
        intervals = rpeak_intervals(r)
        for key in ("sensitivity", "ppv"):
            out[f"rpeak_{name}_{key}"] = r[key]
            out[f"rpeak_{name}_{key}_ci95"] = list(intervals[key])
    out["rpeak_min_sensitivity"] = min((r["sensitivity"] for r in records.values()), default=0.0)
    out["rpeak_min_ppv"] = min((r["ppv"] for r in records.values()), default=0.0)
    return out


def rpeaks_mitdb100(data: Path) -> dict[str, float]:
    return score_record(data / "ecg" / "mitdb100" / "100")


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
