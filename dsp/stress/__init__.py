"""The stress model on the gateway: its 38 input features defined as in its training data, the
per-patient running baseline, the LiteRT model runner with its quality gate, and the hysteresis
that turns per-window scores into episodes."""

from dsp.stress.baseline import (
    SCALE_FLOORS,
    BaselineMismatchError,
    RunningBaseline,
    floor_vector,
    robust_centre_scale,
)
from dsp.stress.episodes import EpisodeTracker, Transition
from dsp.stress.features import (
    ACC_FEATURES,
    FEATURE_NAMES,
    HRV_FEATURES,
    acc_features,
    hrv_features,
)
from dsp.stress.features_eda import EDA_FEATURES, EdaTraces, eda_features, eda_traces
from dsp.stress.model import (
    DEFAULT_MODEL,
    NO_HEART_MODEL,
    NO_HEART_ROBUST_MODEL,
    ROBUST_MODEL,
    ModelScore,
    PatientBaseline,
    QualityInputs,
    StressModel,
)

__all__ = [
    "ACC_FEATURES",
    "DEFAULT_MODEL",
    "EDA_FEATURES",
    "FEATURE_NAMES",
    "HRV_FEATURES",
    "NO_HEART_MODEL",
    "NO_HEART_ROBUST_MODEL",
    "ROBUST_MODEL",
    "SCALE_FLOORS",
    "BaselineMismatchError",
    "EdaTraces",
    "EpisodeTracker",
    "ModelScore",
    "PatientBaseline",
    "QualityInputs",
    "RunningBaseline",
    "StressModel",
    "Transition",
    "acc_features",
    "eda_features",
    "eda_traces",
    "floor_vector",
    "hrv_features",
    "robust_centre_scale",
]
