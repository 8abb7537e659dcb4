"""IIR filters as second-order sections (Butterworth design and causal, stateful and zero-phase
filtering, without scipy) and the binary searches over sorted time stretches that every signal
family's kernels share. The base of dsp: it imports nothing else of the project."""

from dsp.filters.design import butter_bandpass_sos, butter_highpass_sos, butter_lowpass_sos
from dsp.filters.sorted_search import lower_bound_in, upper_bound_in
from dsp.filters.sos import (
    odd_extension_kernel,
    prepared_sos,
    sosfilt,
    sosfilt_kernel,
    sosfilt_stateful,
    sosfilt_zi,
    sosfiltfilt,
    sosfiltfilt_kernel,
    zi_kernel,
)

__all__ = [
    "butter_bandpass_sos",
    "butter_highpass_sos",
    "butter_lowpass_sos",
    "lower_bound_in",
    "odd_extension_kernel",
    "prepared_sos",
    "sosfilt",
    "sosfilt_kernel",
    "sosfilt_stateful",
    "sosfilt_zi",
    "sosfiltfilt",
    "sosfiltfilt_kernel",
    "upper_bound_in",
    "zi_kernel",
]
