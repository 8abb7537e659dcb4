"""R-peak detection in single-lead ECG (Pan-Tompkins style, any rate from a 130 Hz strap to
clinical recordings): the readable numpy path (peaks), its kernels, the detector fused into one
numba call (fused, what the gateway runs) and its constants (params)."""

from dsp.ecg.fused import fused_r_peaks
from dsp.ecg.peaks import detect_r_peaks

__all__ = ["detect_r_peaks", "fused_r_peaks"]
