"""Electrodermal activity: cleaning, skin-conductance responses (the live response detector,
the plain slope detector, their one-kernel forms, and NeuroKit2's phasic definition), tonic
level, per-window SCL and SCR statistics, and flags for samples that motion or bad contact
spoilt."""

from dsp.eda.detect import ScrMethod, clean_eda, detect_scrs, scr_rate_per_min, tonic_level_us
from dsp.eda.features import SclStats, ScrStats, scl_statistics, scr_statistics
from dsp.eda.motion import dynamic_acceleration_g, motion_artifact_mask
from dsp.eda.phasic import EdaComponents, decompose_eda, find_phasic_scrs
from dsp.eda.quality import implausible_eda_mask
from dsp.eda.response_rules import MAX_RISE_S, NOISE_MULTIPLE, response_mask_kernel
from dsp.eda.scr_record import NOT_RECOVERED, ScrSet
from dsp.eda.slope_kernels import (
    clean_eda_design,
    response_scr_indices,
    response_scr_kernel,
    skin_kernel,
    slope_scr_indices,
    slope_scr_kernel,
)

__all__ = [
    "MAX_RISE_S",
    "NOISE_MULTIPLE",
    "NOT_RECOVERED",
    "EdaComponents",
    "SclStats",
    "ScrMethod",
    "ScrSet",
    "ScrStats",
    "clean_eda",
    "clean_eda_design",
    "decompose_eda",
    "detect_scrs",
    "dynamic_acceleration_g",
    "find_phasic_scrs",
    "implausible_eda_mask",
    "motion_artifact_mask",
    "response_mask_kernel",
    "response_scr_indices",
    "response_scr_kernel",
    "scl_statistics",
    "scr_rate_per_min",
    "scr_statistics",
    "skin_kernel",
    "slope_scr_indices",
    "slope_scr_kernel",
    "tonic_level_us",
]
