"""Heart-rate variability from beat times: RR intervals, artefact rejection (clean_rr) and
correction (Lipponen & Tarvainen 2019), time-domain, frequency-domain (Lomb-Scargle, Welch) and
nonlinear HRV, PCST's NN selection for validation, and the resonance-breathing estimate."""

from dsp.hrv.frequency import (
    FrequencyDomainHrv,
    band_power,
    frequency_domain,
    lomb_psd,
    natural_cubic_spline,
    welch_psd,
)
from dsp.hrv.intervals import TimeDomainHrv, clean_rr, rr_intervals_ms, time_domain
from dsp.hrv.nonlinear import Poincare, dfa_alpha, poincare, sample_entropy
from dsp.hrv.pcst_selection import NnSeries, PcstSettings, pcst_nn_series, pcst_window_starts
from dsp.hrv.resonance import (
    PacedSegment,
    ResonanceEstimate,
    SegmentResult,
    analyse_segment,
    artifact_free,
    estimate_resonance,
)
from dsp.hrv.rr_correction import (
    LABEL_NAMES,
    RrCorrection,
    apply_corrections,
    correct_rr,
    corrected_beat_times_ms,
    detect_rr_artefacts,
    time_resolution_ms,
)
from dsp.hrv.welch_kernels import welch_band_powers

__all__ = [
    "LABEL_NAMES",
    "FrequencyDomainHrv",
    "NnSeries",
    "PacedSegment",
    "PcstSettings",
    "Poincare",
    "ResonanceEstimate",
    "RrCorrection",
    "SegmentResult",
    "TimeDomainHrv",
    "analyse_segment",
    "apply_corrections",
    "artifact_free",
    "band_power",
    "clean_rr",
    "correct_rr",
    "corrected_beat_times_ms",
    "detect_rr_artefacts",
    "dfa_alpha",
    "estimate_resonance",
    "frequency_domain",
    "lomb_psd",
    "natural_cubic_spline",
    "pcst_nn_series",
    "pcst_window_starts",
    "poincare",
    "rr_intervals_ms",
    "sample_entropy",
    "time_domain",
    "time_resolution_ms",
    "welch_band_powers",
    "welch_psd",
]
