"""Beats from wrist pulse: systolic peaks of a PPG/BVP trace, or a device's own inter-beat
intervals (E4 IBI, PPG devices' PPI), each with a quality gate of its own, beside the ECG path
(dsp.ecg). A pulse beat is not an R-peak: it lags it by the pulse transit time and is blunter, so
a model validated on one source is not assumed valid on the other."""

from dsp.pulse.beats import (
    MAX_ARTEFACT_FRACTION,
    PulseBeats,
    interval_beats,
    pulse_beats,
    pulse_keep,
    pulse_peaks,
)

__all__ = [
    "MAX_ARTEFACT_FRACTION",
    "PulseBeats",
    "interval_beats",
    "pulse_beats",
    "pulse_keep",
    "pulse_peaks",
]
