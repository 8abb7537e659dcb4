"""SCRs on an Empatica E4 session against NeuroKit2 on the same cleaned signal."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dsp.eda import detect_scrs, motion_artifact_mask


def _f1(ours: npt.NDArray[np.int64], ref: npt.NDArray[np.int64], tol: float) -> float:
    """One-to-one greedy matching within tol samples."""
    used: set[int] = set()
    for p in ours:
        for j in np.argsort(np.abs(ref - p)):
            if abs(int(ref[j]) - int(p)) > tol:
                break
            if int(j) not in used:
                used.add(int(j))
                break
    hits = len(used)
    return 2.0 * hits / (ours.size + ref.size) if ours.size + ref.size else 1.0


def scr_e4(data: Path) -> dict[str, float] | None:
    """Our SCRs vs neurokit2's (eda_phasic + eda_peaks, defaults) on nk.eda_clean's output.

    Ours: detect_scrs(method="phasic_relative"), our own decomposition and detector with
    neurokit2's definitions; the live default (method="response") is counted alongside.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import neurokit2 as nk  # noqa: PLC0415 - a reference only, slow to import
    except ImportError:
        return None
    folder = data / "eda" / "e4_flirt"
    raw = np.loadtxt(folder / "EDA.csv")
    fs, eda = float(raw[1]), raw[2:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = np.asarray(nk.eda_clean(eda, sampling_rate=int(fs)), dtype=float)
        phasic = nk.eda_phasic(clean, sampling_rate=int(fs))["EDA_Phasic"].to_numpy()
        _, info = nk.eda_peaks(phasic, sampling_rate=int(fs))
    ref = np.asarray(info["SCR_Peaks"], dtype=np.int64)
    ours = detect_scrs(clean, fs, method="phasic_relative")
    with_onset = ~np.isnan(info["SCR_Onsets"])
    ref_onsets = np.asarray(info["SCR_Onsets"][with_onset], dtype=np.int64)
    same_peaks = np.array_equal(ours.peak_idx, ref[with_onset])
    ref_rec = info["SCR_Recovery"][with_onset]
    both = np.isfinite(ref_rec) & (ours.half_recovery_idx >= 0) if same_peaks else [False]
    acc = np.loadtxt(folder / "ACC.csv", delimiter=",")
    acc_fs = float(acc[1, 0])  # E4 files start together but were cut to different lengths
    covered = min(eda.size, int((acc.shape[0] - 2) / acc_fs * fs))
    moving = motion_artifact_mask(acc[2:] / 64.0, acc_fs, eda_fs=fs, n_eda=covered)
    steps = np.abs(np.diff(eda))
    return {
        "n_eda": float(eda.size),
        "ours": float(len(ours)),
        "neurokit2": float(ref.size),
        "neurokit2_with_onset": float(ref_onsets.size),
        "range_us": float(np.ptp(clean)),
        "f1": _f1(ours.peak_idx, ref, 1.0 * fs),
        "f1_onsets": _f1(ours.onset_idx, ref_onsets, 1.0 * fs),
        "peaks_identical": float(same_peaks),
        "amplitude_max_abs_diff_us": float(
            np.max(np.abs(ours.amplitude_us - info["SCR_Amplitude"][with_onset]))
            if same_peaks
            else np.inf
        ),
        "recovered_ours": float(np.sum(ours.half_recovery_idx >= 0)),
        "recovered_neurokit2": float(np.sum(np.isfinite(ref_rec))),
        "recovery_same_sample_share": float(
            np.mean(ours.half_recovery_idx[both] == ref_rec[both]) if np.any(both) else np.nan
        ),
        "amplitude_median_us": float(np.median(ours.amplitude_us)),
        "amplitude_max_us": float(np.max(ours.amplitude_us)),
        "resolution_us": float(np.min(steps[steps > 0])),
        "default_count": float(len(detect_scrs(clean, fs))),
        "acc_covered_s": float(covered / fs),
        "motion_flagged_share": float(np.mean(moving)),
    }
