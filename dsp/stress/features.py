"""The 38 inputs of the stress model, computed from the gateway's own sensors.

Definitions follow the script that made the training CSV (WESAD wrist E4; see
docs/model-card.md, "Features on the gateway"), so each number means what the model learnt:

HRV, 11 features (the E4 derived beats from BVP at 64 Hz; we use chest-strap ECG R-peaks):
    time domain over the 60 s window (NeuroKit2 ``hrv_time``): mean, median, min and max NN,
    SDNN and SDSD (ddof 1), RMSSD, pNN50 (%); all in ms except pNN50.
    frequency domain over the 180 s ending at the window's end (NeuroKit2 ``hrv_frequency``,
    Welch): VLF 0.0033-0.04, LF 0.04-0.15, HF 0.15-0.4 Hz band powers (ms^2), total power
    (VLF+LF+HF+VHF 0.4-0.5 Hz; the ULF band cannot be resolved in 180 s) and LF/HF (the model
    takes its log). Welch here is dsp.hrv.frequency's (4 Hz spline, 64 s Hann segments).
    Beats pass dsp.hrv.clean_rr first (training had no beat correction: E4 wrist beats are
    noisier than a chest strap's, one reason a per-patient baseline is needed).
EDA, 17 features: see dsp.stress.features_eda.
ACC, 8 features over the window (E4 wrist ACC at 32 Hz in its native 1/64 g units; ours are
    chest-strap mg converted to those units, x 64/1000): per-axis SD (ddof 0), magnitude mean,
    SD and max, signal-magnitude area mean(|x|+|y|+|z|) and energy mean(|a|^2).

Unit factors hardly matter to the model (every feature is z-scored against the patient's own
calibration period, which removes any positive scale and offset), except where a scale floor
applies (dsp.stress.SCALE_FLOORS: motion SD in E4 units, SCR count in responses), so the units
are kept as the CSV's: the raw values compare with it and the floors mean what they say.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dsp.hrv import welch_band_powers
from dsp.stress.features_eda import EDA_FEATURES
from dsp.stress.features_kernels import acc_kernel, hrv_time_kernel

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

HRV_TIME_WINDOW_S = 60.0
HRV_FREQUENCY_WINDOW_S = 180.0
E4_ACC_UNITS_PER_MG = 64.0 / 1000.0
_BANDS = {
    "vlf": (0.0033, 0.04),
    "lf": (0.04, 0.15),
    "hf": (0.15, 0.4),
    "vhf": (0.4, 0.5),
}
#: (lo, hi) Hz of VLF, LF, HF and VHF, rows in that order: what the Welch band-power kernels take.
BAND_EDGES = np.array(list(_BANDS.values()), dtype=np.float64)
_MIN_FREQUENCY_BEATS = 30  # under this a 180 s Welch spectrum is noise

HRV_FEATURES = (
    "hrv_rmssd",
    "hrv_pnn50",
    "hrv_sdnn",
    "hrv_mean_rr",
    "hrv_median_rr",
    "hrv_sdsd",
    "hrv_min_rr",
    "hrv_max_rr",
    "hrv_lf_power",
    "hrv_hf_power",
    "hrv_vlf_power",
    "hrv_total_power",
    "hrv_lf_hf_ratio",
)
#: The HRV features that need the 180 s Welch spectrum (the rest are time-domain).
SPECTRAL_HRV_FEATURES = HRV_FEATURES[8:]
ACC_FEATURES = (
    "acc_x_std",
    "acc_y_std",
    "acc_z_std",
    "acc_magnitude_mean",
    "acc_magnitude_std",
    "acc_magnitude_max",
    "acc_sma",
    "acc_energy",
)
#: The model's input order (the sidecar's ``features``; a test checks they agree).
FEATURE_NAMES = (
    *HRV_FEATURES[:2],
    *EDA_FEATURES[:15],
    *HRV_FEATURES[2:],
    *EDA_FEATURES[15:],
    *ACC_FEATURES,
)


def _nan_dict(names: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(names, math.nan)


def hrv_time_features(rr_ms: npt.ArrayLike, keep: npt.ArrayLike) -> dict[str, float]:
    """Time-domain HRV of the kept intervals; successive differences only between kept pairs."""
    rr = np.ascontiguousarray(rr_ms, dtype=np.float64)
    mask = np.ascontiguousarray(keep, dtype=np.bool_)
    return dict(zip(HRV_FEATURES[:8], hrv_time_kernel(rr, mask).tolist(), strict=True))


def hrv_frequency_features(t_s: npt.ArrayLike, nn_ms: npt.ArrayLike) -> dict[str, float]:
    """Welch band powers (ms^2) of NN intervals ending at times t_s (s) over ~180 s."""
    t = np.asarray(t_s, dtype=np.float64)
    nn = np.asarray(nn_ms, dtype=np.float64)
    names = SPECTRAL_HRV_FEATURES
    if nn.size < _MIN_FREQUENCY_BEATS:
        return _nan_dict(names)
    power = dict(zip(_BANDS, welch_band_powers(t, nn, BAND_EDGES).tolist(), strict=True))
    return frequency_dict(power)


def frequency_dict(power: dict[str, float]) -> dict[str, float]:
    """The model's 5 frequency features from the vlf, lf, hf and vhf band powers."""
    total = power["vlf"] + power["lf"] + power["hf"] + power["vhf"]
    return {
        "hrv_lf_power": power["lf"],
        "hrv_hf_power": power["hf"],
        "hrv_vlf_power": power["vlf"],
        "hrv_total_power": total,
        "hrv_lf_hf_ratio": power["lf"] / power["hf"] if power["hf"] > 0 else math.nan,
    }


def hrv_features(beat_times_s: npt.ArrayLike, keep: npt.ArrayLike) -> dict[str, float]:
    """All 13 HRV features from beat times (s) ending at the window's end, 0 = window end.

    ``keep`` marks the intervals (one fewer than the beats) that clean_rr accepted. Beats from at
    least the last 180 s should be given; the time domain uses those of the last 60 s.
    """
    beats = np.asarray(beat_times_s, dtype=np.float64)
    kept = np.asarray(keep, dtype=np.bool_)
    if beats.ndim != 1 or kept.shape != (max(beats.size - 1, 0),):
        raise ValueError("keep must have one entry per interval (len(beat_times_s) - 1)")
    if beats.size < 2:
        return _nan_dict(HRV_FEATURES)
    rr = np.diff(beats) * 1000.0
    starts, ends = beats[:-1], beats[1:]
    # Intervals with both beats inside the span, as NeuroKit2 saw the peaks of a cut signal.
    recent = starts >= -HRV_TIME_WINDOW_S
    spectral = kept & (starts >= -HRV_FREQUENCY_WINDOW_S)
    return hrv_time_features(rr[recent], kept[recent]) | hrv_frequency_features(
        ends[spectral], rr[spectral]
    )


def acc_features(acc_mg: npt.ArrayLike) -> dict[str, float]:
    """The 8 ACC features of one window of (n, 3) samples in mg, in E4 units (1/64 g)."""
    acc = np.asarray(acc_mg, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise ValueError(f"acc_mg must have shape (n, 3), got {acc.shape}")
    if acc.shape[0] == 0:
        return _nan_dict(ACC_FEATURES)
    e4 = np.ascontiguousarray(acc * E4_ACC_UNITS_PER_MG)
    return dict(zip(ACC_FEATURES, acc_kernel(e4).tolist(), strict=True))
