"""The 17 EDA model features of one window in one numba call.

dsp.stress.features_eda.eda_features ran the SCR detector (low-pass, slope kernel), masks, the
half-recovery and tonic kernels and five numpy reductions every window; their call overhead
outweighed the arithmetic on ~300 samples. eda_features_kernel does the same steps in the same
order (dsp.filters' forward-backward kernel with the design and pad the library uses, then
dsp.eda.slope_kernels' detector); eda_features_reference keeps the numpy path, and
tests/dsp/test_stress_features_eda_kernels.py holds the two equal to rounding (sums here run
in order, numpy's pairwise).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from dsp.eda import slope_scr_kernel
from dsp.filters import sosfiltfilt_kernel
from dsp.stress.features_kernels import half_recovery_kernel, tonic_kernel

FloatArray = npt.NDArray[np.float64]
N_EDA_FEATURES = 17


@numba.njit(cache=True)
def eda_features_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    tonic: FloatArray,
    smoothed: FloatArray,
    phasic: FloatArray,
    fs: float,
    span: npt.NDArray[np.int64],
    lowpass: FloatArray,
    pad: int,
    limits: FloatArray,
) -> FloatArray:
    """EDA_FEATURES of samples span[0]..span[1] (tonic and smoothed already cut to them).

    ``lowpass`` (empty: none) and ``pad`` are clean_eda's filter; ``limits`` the SCR floor and
    ceiling (µS/s). NaN everywhere if the phasic trace is not finite (the caller then raises).
    """
    out = np.full(N_EDA_FEATURES, np.nan)
    for v in phasic:
        if not math.isfinite(v):
            return out
    x = phasic
    if lowpass.shape[0] > 0 and phasic.shape[0] > 1:
        x = sosfiltfilt_kernel(lowpass, phasic, min(pad, phasic.shape[0] - 1))
    onsets, peaks = slope_scr_kernel(x, fs, limits[0])
    recovery = half_recovery_kernel(phasic, peaks, onsets)
    count = 0
    amp_sum = 0.0
    amp_max = -np.inf
    rise_sum = 0.0
    recovery_sum = 0.0
    amplitudes = np.empty(peaks.shape[0])
    for k in range(peaks.shape[0]):
        amplitude = x[peaks[k]] - x[onsets[k]]
        if span[0] <= peaks[k] < span[1] and amplitude <= limits[1]:
            amplitudes[count] = amplitude
            count += 1
            amp_sum += amplitude
            amp_max = max(amp_max, amplitude)
            rise_sum += (peaks[k] - onsets[k]) / fs
            recovery_sum += recovery[k]
    stats = tonic_kernel(tonic, smoothed, fs)
    out[0] = count
    out[1:9] = stats[:8]
    out[12] = amp_sum
    if count:
        mean = amp_sum / count
        spread = 0.0
        for k in range(count):
            spread += (amplitudes[k] - mean) ** 2
        out[9], out[10], out[11] = mean, amp_max, math.sqrt(spread / count)
        out[13], out[14] = rise_sum / count, recovery_sum / count / fs
    else:
        out[9:12] = 0.0
        out[13:15] = 0.0
    out[15], out[16] = stats[8], stats[9]
    return out
