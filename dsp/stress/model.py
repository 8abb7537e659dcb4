"""The trained stress model at run time: LiteRT, loaded once, gated by signal quality.

The .tflite holds the model (a chain of dense layers; today one, a logistic regression) with its
Platt calibration folded into the output layer, so its output is already a calibrated
probability; the JSON sidecar next to it holds what the graph cannot: which features it takes
(looked up by name, in its input order) and their transforms, the clip, and the decision
threshold. Normalisation is per patient (mean and SD over their calibration period), as in
training, where each subject was z-scored against their own first calibration windows. Windows
the model was never meant to judge (too few or too many rejected beats, heavy motion, missing
inputs) get no probability at all rather than a confident-looking number.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from dsp.stress.baseline import ESTIMATORS, Estimator, floor_vector
from dsp.stress.model_kernels import transform_kernel

try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:  # pragma: no cover - older Pis with only tflite-runtime (numpy 1)
    from tflite_runtime.interpreter import Interpreter, OpResolverType

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "vagus" / "data" / "stress_model.tflite"
#: The same procedure trained on median/MAD calibrations (for a calibration that may not be
#: at rest: docs/model-card.md).
ROBUST_MODEL = DEFAULT_MODEL.with_name("stress_model_robust.tflite")
#: The same procedure without heart data (EDA and motion only), for a patient whose devices give
#: the gateway no heart data it can use (no ECG, and wrist pulse too disturbed, as on an E4).
NO_HEART_MODEL = DEFAULT_MODEL.with_name("stress_model_no_heart.tflite")
#: The model without heart data trained on median/MAD calibrations (its robust twin).
NO_HEART_ROBUST_MODEL = DEFAULT_MODEL.with_name("stress_model_no_heart_robust.tflite")
#: A sidecar's beat_source for a model that takes no heart data at all.
NO_BEATS = "none"
#: Where WESAD's motion was measured (an E4 on the wrist): a sidecar's motion_site when absent.
WRIST = "wrist"
#: A window's motion_site when its device declares none (vagus.pipeline).
UNDECLARED_SITE = "undeclared"
#: The model inputs computed from an accelerometer (dsp.stress.features' ACC features).
MOTION_PREFIX = "acc_"
QualityFlag = Literal["ok", "poor_signal", "motion", "missing_features"]


def takes_motion(features: Iterable[str]) -> bool:
    """Whether a model with these inputs reads an accelerometer (so where it sits matters)."""
    return any(name.startswith(MOTION_PREFIX) for name in features)


@dataclass(frozen=True, slots=True)
class QualityInputs:
    """What the gateway already measures per window (see vagus.pipeline's quality gate)."""

    beats: int
    rr_artifact_fraction: float | None
    motion_fraction: float | None
    #: the stream the window's heart numbers came from (dsp.streaming.stages.HEART_RANK), if any
    heart_source: str | None = None
    #: what those beats were measured on, "ecg" or "pulse" (dsp.streaming.stages.BEAT_KIND)
    beat_kind: str | None = None
    #: where on the body the window's motion was measured (UNDECLARED_SITE when its device does
    #: not say); None when there is no motion stream or the caller does not say
    motion_site: str | None = None


@dataclass(frozen=True, slots=True)
class QualityGate:
    """Defaults mirror vagus.pipeline: MIN_BEATS, MAX_ARTIFACT_FRACTION, MAX_MOTION_FRACTION.
    ``needs_beats`` False (a model without heart data): the beat checks do not apply."""

    min_beats: int = 20
    max_rr_artifact_fraction: float = 0.2
    max_motion_fraction: float = 0.5
    needs_beats: bool = True

    def flag(self, quality: QualityInputs) -> QualityFlag:
        artifacts = quality.rr_artifact_fraction
        if self.needs_beats and (
            quality.beats < self.min_beats
            or artifacts is None
            or not artifacts <= self.max_rr_artifact_fraction
        ):
            return "poor_signal"
        if (quality.motion_fraction or 0.0) > self.max_motion_fraction:  # None: no ACC stream
            return "motion"
        return "ok"


@dataclass(frozen=True, slots=True)
class ModelScore:
    probability: float | None
    quality_flag: QualityFlag


@dataclass(frozen=True, slots=True)
class PatientBaseline:
    """Per-feature mean and SD of one patient's calibration period, in model input order."""

    mean: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]


class StressModel:
    """Load once, then score many windows of one patient."""

    def __init__(self, model_path: Path = DEFAULT_MODEL, baseline: PatientBaseline | None = None):
        sidecar: dict[str, Any] = json.loads(model_path.with_suffix(".json").read_text())
        self.features: list[str] = [f["name"] for f in sidecar["features"]]
        self._log = np.array([f["transform"] == "log" for f in sidecar["features"]])
        self._n = len(self.features)
        self._absent = [math.nan] * self._n  # transform's default per feature
        self.clip = float(sidecar["normalisation"]["clip"])
        self.min_sd = float(sidecar["normalisation"]["min_sd"])
        # The scale floors it was trained with (dsp.stress.baseline.SCALE_FLOORS); a sidecar
        # that predates them was trained without any.
        floors = sidecar["normalisation"].get("scale_floors", {})
        self.scale_floors: dict[str, float] = {str(k): float(v) for k, v in floors.items()}
        if any(k not in self.features or not v >= 0 for k, v in self.scale_floors.items()):
            raise ValueError(f"{model_path}: scale floors {floors} are not >= 0 model inputs")
        # How the per-patient baseline is estimated: as in the training the figures describe.
        self.estimator: Estimator = sidecar["normalisation"].get("estimator", "mean_sd")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"{model_path}: unknown baseline estimator {self.estimator!r}")
        self.threshold = float(sidecar["threshold"])
        # Which model this is, for state made with it: a patient's threshold and Platt
        # correction are fitted to one model's probabilities and mean nothing for another's.
        self.identity = hashlib.sha256(model_path.read_bytes()).hexdigest()
        # Where the heart features it was validated on came from; WESAD's were E4 BVP beats, so
        # a sidecar that predates the field means pulse (the bundled one declares it).
        # "none": the model takes no heart data, so a window needs no beats to be scored.
        self.beat_source: str = str(sidecar.get("beat_source", "pulse"))
        self.gate = QualityGate(needs_beats=self.beat_source != NO_BEATS)
        # Where the motion inputs it was validated on were measured (WESAD: the E4, on the
        # wrist, so a sidecar that predates the field means the wrist); None: no motion input.
        moves = takes_motion(self.features)
        self.motion_site: str | None = str(sidecar.get("motion_site", WRIST)) if moves else None
        self.baseline = baseline
        # The built-in kernels without the default XNNPACK delegate: for a model this small the
        # delegate saves nothing, prints a line to stderr from C++ on every load, and picks
        # CPU-specific kernels (outputs differ from the built-ins by at most 4e-7).
        self._interpreter = Interpreter(
            model_path=str(model_path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def source_refusal(self, beat_source: str) -> str | None:
        """Why heart data from ``beat_source`` ("ecg", "pulse") must not be scored, or None.

        ECG R-peaks and pulse peaks differ (transit-time jitter, blunter peaks, other artefacts),
        so a model is only trusted on the beat source it was validated on. A model without heart
        data refuses none: it never reads them."""
        if self.beat_source in (beat_source, NO_BEATS):
            return None
        return (
            f"the stress model was validated on {self.beat_source} beats only; "
            f"heart data from {beat_source} beats are refused"
        )

    def site_refusal(self, site: str) -> str | None:
        """Why motion measured at ``site`` must not be scored, or None.

        A wrist swings with every gesture; a chest strap moves with the trunk only, so the same
        fidget is a different number there, and a patient's z-scores against a chest baseline
        say nothing a wrist-trained model learnt. A model without motion inputs refuses none."""
        if self.motion_site is None or site == self.motion_site:
            return None
        if site == UNDECLARED_SITE:
            return (
                f"the stress model was validated on {self.motion_site} motion only; motion "
                "measured at a site its device does not declare is refused (give its profile a "
                "`site`; an E4 export imported before vagus declared sites must be imported "
                "again with `vagus import e4`)"
            )
        return (
            f"the stress model was validated on {self.motion_site} motion only; "
            f"motion measured at {site} is refused"
        )

    def transform(self, features: Mapping[str, float]) -> npt.NDArray[np.float64]:
        """Features in model order with the sidecar's transforms; absent or invalid -> NaN.

        One kernel call after the look-ups (dsp.stress.model_kernels); transform_reference is
        its numpy twin."""
        raw = np.fromiter(
            map(features.get, self.features, self._absent), dtype=np.float64, count=self._n
        )
        return transform_kernel(raw, self._log)

    def transform_reference(self, features: Mapping[str, float]) -> npt.NDArray[np.float64]:
        """numpy twin of transform."""
        values = np.array([float(features.get(name, math.nan)) for name in self.features])
        with np.errstate(divide="ignore", invalid="ignore"):
            values[self._log] = np.log(values[self._log])
        values[~np.isfinite(values)] = math.nan
        return values

    def vector(self, features: Mapping[str, float]) -> npt.NDArray[np.float64] | None:
        """Transformed features in model order, or None if any is absent or not finite."""
        values = self.transform(features)
        return values if bool(np.all(np.isfinite(values))) else None

    def fit_baseline(self, windows: Sequence[Mapping[str, float]]) -> PatientBaseline:
        """Mean and SD (ddof=1) over the usable calibration windows; needs at least two."""
        rows = [v for w in windows if (v := self.vector(w)) is not None]
        if len(rows) < 2:
            raise ValueError("a baseline needs at least two complete calibration windows")
        stacked = np.vstack(rows)
        sd = stacked.std(axis=0, ddof=1)
        floor = floor_vector(self.features, self.scale_floors)
        scale = np.maximum(np.where(sd > self.min_sd, sd, 1.0), floor)
        self.baseline = PatientBaseline(stacked.mean(axis=0), scale)
        return self.baseline

    def normalise(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        if self.baseline is None:
            raise RuntimeError("fit_baseline (or pass baseline=) before scoring")
        z = (values - self.baseline.mean) / self.baseline.sd
        return np.clip(z, -self.clip, self.clip).astype(np.float32)[None, :]

    def probability(self, normalised: npt.NDArray[np.float32]) -> float:
        """One interpreter call on an already normalised (1, n_features) float32 row."""
        self._interpreter.set_tensor(self._input, normalised)
        self._interpreter.invoke()
        return float(self._interpreter.get_tensor(self._output)[0, 0])

    def score(self, features: Mapping[str, float], quality: QualityInputs) -> ModelScore:
        flag = self.gate.flag(quality)
        if flag != "ok":
            return ModelScore(None, flag)
        values = self.vector(features)
        if values is None:
            return ModelScore(None, "missing_features")
        p = self.probability(self.normalise(values))
        return ModelScore(p if math.isfinite(p) else None, "ok")

    def is_stress(self, score: ModelScore) -> bool:
        return score.probability is not None and score.probability >= self.threshold
