"""Plain numpy twins of dsp.stress's kernels, kept with the tests that hold the two equal."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.eda import detect_scrs
from dsp.hrv import band_power, welch_psd
from dsp.stress.features import (
    _BANDS,
    _MIN_FREQUENCY_BEATS,
    HRV_FEATURES,
    _nan_dict,
    frequency_dict,
)
from dsp.stress.features_eda import SCR_MIN_US_PER_S, ScrIndices

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def hrv_frequency_features_reference(t_s: npt.ArrayLike, nn_ms: npt.ArrayLike) -> dict[str, float]:
    """numpy twin of hrv_frequency_features (welch_psd, then band_power per band)."""
    t = np.asarray(t_s, dtype=np.float64)
    nn = np.asarray(nn_ms, dtype=np.float64)
    if nn.size < _MIN_FREQUENCY_BEATS:
        return _nan_dict(HRV_FEATURES[8:])
    freqs, psd = welch_psd(t, nn)
    return frequency_dict({name: band_power(freqs, psd, band) for name, band in _BANDS.items()})


def model_scrs_reference(phasic: FloatArray, fs: float) -> ScrIndices:
    """numpy twin of model_scrs: detect_scrs itself, the plain slope method the model uses."""
    scrs = detect_scrs(phasic, fs, method="slope", min_amplitude_us=SCR_MIN_US_PER_S)
    return scrs.onset_idx, scrs.peak_idx, scrs.amplitude_us, scrs.rise_time_s


def hrv_time_reference(rr: FloatArray, keep: BoolArray) -> FloatArray:
    """numpy twin of hrv_time_kernel (the original definitions)."""
    mask = keep & np.isfinite(rr)
    nn = rr[mask]
    diffs = np.diff(rr)[mask[:-1] & mask[1:]]
    if nn.size < 3 or diffs.size < 2:
        return np.full(8, np.nan)
    return np.array(
        [
            np.sqrt(np.mean(diffs**2)),
            100.0 * np.count_nonzero(np.abs(diffs) > 50.0) / diffs.size,
            nn.std(ddof=1),
            nn.mean(),
            np.median(nn),
            diffs.std(ddof=1),
            nn.min(),
            nn.max(),
        ]
    )


def tonic_reference(tonic: FloatArray, smoothed: FloatArray, fs: float) -> FloatArray:
    """numpy twin of tonic_kernel (the original definitions, polyfit for the slope)."""
    seconds = np.arange(tonic.size) / fs
    d = smoothed - smoothed.mean()
    m2 = float(np.mean(d**2))
    skew = float(np.mean(d**3)) / m2**1.5 if m2 > 0 else np.nan
    kurt = float(np.mean(d**4)) / m2**2 - 3.0 if m2 > 0 else np.nan
    return np.array(
        [
            tonic.mean(),
            tonic.std(),
            tonic.min(),
            tonic.max(),
            np.median(tonic),
            tonic.max() - tonic.min(),
            np.sum((tonic[1:] + tonic[:-1]) / 2.0) / fs,
            np.polyfit(seconds, tonic, 1)[0] if tonic.size > 1 else 0.0,
            skew,
            kurt,
        ]
    )


def acc_reference(e4: FloatArray) -> FloatArray:
    """numpy twin of acc_kernel (the original definitions)."""
    magnitude = np.sqrt(np.einsum("ij,ij->i", e4, e4))
    return np.array(
        [
            e4[:, 0].std(),
            e4[:, 1].std(),
            e4[:, 2].std(),
            magnitude.mean(),
            magnitude.std(),
            magnitude.max(),
            np.abs(e4).sum(axis=1).mean(),
            np.mean(magnitude**2),
        ]
    )
