"""A window's aligned EDA traces cut from the carried ones, and the traces extended, in one
numba call each.

EdaTraceTracker.update ran the smoothing and tonic filters over each window's new samples with
about ten numpy calls (base subtraction, two stateful filters, base additions); eda_run_kernel
does the same arithmetic in one call, eda_run_reference keeps the numpy glue.

EdaTraceTracker.features cut the smoothed and tonic traces ALIGN_S ahead (padding past their end
with the last value), differentiated the smoothed trace for the phasic one and zero-padded it:
ten small numpy calls a window. aligned_traces_kernel does the same; aligned_traces_reference
keeps the numpy glue, and tests/dsp/test_streaming_eda_kernels.py holds the two equal.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from dsp.filters import sosfilt_kernel, sosfilt_stateful
from dsp.stress import EdaTraces

FloatArray = npt.NDArray[np.float64]


@numba.njit(cache=True)
def _aligned(trace: FloatArray, a: int, b: int, shift: int) -> FloatArray:
    """trace[a + shift : b + shift], padded past the trace's end with its last value."""
    n = trace.shape[0]
    out = np.empty(b - a)
    for i in range(b - a):
        k = a + shift + i
        out[i] = trace[k] if k < n else trace[n - 1]
    return out


@numba.njit(cache=True)
def aligned_traces_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    smoothed: FloatArray, tonic: FloatArray, fs: float, lo: int, last: int, shift: int
) -> tuple[bool, FloatArray, FloatArray, FloatArray]:
    """(ok, smoothed, tonic, phasic) of samples [lo, last), shifted; not ok if too short."""
    n = smoothed.shape[0]
    pre = 1 if lo + shift > 0 else 0
    begin = lo + shift - pre
    stop = min(last + shift + 1, n)
    m = stop - begin  # np.gradient's input: smoothed[begin:stop]
    if m < 2:
        return False, np.empty(0), np.empty(0), np.empty(0)
    h = 1.0 / fs
    phasic = np.zeros(last - lo + shift)
    keep = min(m - pre, last - lo)  # gradient[pre:][: last - lo]
    for i in range(keep):
        j = i + pre  # index into the gradient
        if j == 0:
            g = (smoothed[begin + 1] - smoothed[begin]) / h
        elif j == m - 1:
            g = (smoothed[begin + m - 1] - smoothed[begin + m - 2]) / h
        else:
            g = (smoothed[begin + j + 1] - smoothed[begin + j - 1]) / (2.0 * h)
        phasic[i] = 0.0 if g <= 0.0 else g  # np.maximum(0, g), NaN kept
    return True, _aligned(smoothed, lo, last, shift), _aligned(tonic, lo, last, shift), phasic


def aligned_traces(  # noqa: PLR0917 - mirrors the kernel
    smoothed: FloatArray, tonic: FloatArray, fs: float, lo: int, last: int, shift: int
) -> EdaTraces | None:
    """The window's EdaTraces (see the module docstring); None when too short."""
    ok, s, t, p = aligned_traces_kernel(smoothed, tonic, float(fs), lo, last, shift)
    return EdaTraces(s, t, p) if ok else None


def aligned_traces_reference(  # noqa: PLR0917 - mirrors the kernel
    smoothed: FloatArray, tonic: FloatArray, fs: float, lo: int, last: int, shift: int
) -> EdaTraces | None:
    """numpy twin of aligned_traces (the step-by-step path's numpy glue)."""
    n = smoothed.size

    def aligned(trace: FloatArray, a: int, b: int) -> FloatArray:
        part = trace[min(a + shift, n) : min(b + shift, n)]
        return np.concatenate((part, np.full(b - a - part.size, trace[-1])))

    pre = 1 if lo + shift > 0 else 0
    stop = min(last + shift + 1, n)
    around = smoothed[lo + shift - pre : stop]
    if around.size < 2:
        return None
    phasic = np.maximum(0.0, np.gradient(around, 1.0 / fs))[pre:]
    phasic = np.concatenate((phasic[: last - lo], np.zeros(shift)))
    phasic = np.concatenate((phasic, np.zeros(last - lo + shift - phasic.size)))
    return EdaTraces(aligned(smoothed, lo, last), aligned(tonic, lo, last), phasic)


@numba.njit(cache=True)
def eda_run_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    x: FloatArray,
    base: float,
    smooth_sos: FloatArray,
    zi_smooth: FloatArray,
    tonic_sos: FloatArray,
    zi_tonic: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """(smoothed, tonic) of x: both causal filters continued from (and updating) their states,
    run on x - base and shifted back by base."""
    smoothed = sosfilt_kernel(smooth_sos, x - base, zi_smooth)
    tonic = sosfilt_kernel(tonic_sos, smoothed, zi_tonic)
    return smoothed + base, tonic + base


def eda_run_reference(  # noqa: PLR0917 - mirrors the kernel
    x: FloatArray,
    base: float,
    smooth_sos: FloatArray,
    zi_smooth: FloatArray,
    tonic_sos: FloatArray,
    zi_tonic: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """numpy twin of eda_run_kernel (the step-by-step path's numpy glue)."""
    smoothed = sosfilt_stateful(smooth_sos, x - base, zi_smooth)
    tonic = sosfilt_stateful(tonic_sos, smoothed, zi_tonic)
    return smoothed + base, tonic + base
