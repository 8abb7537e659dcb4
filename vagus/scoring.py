"""One patient's stress scoring: baseline, quality gate, LiteRT model, personal calibration.

Order per window: the quality gate first (poor signal and heavy motion are never scored and never
enter the baseline, and say so even during calibration), then complete inputs, then, for a model
with motion inputs, where the motion was measured (a chest strap's motion for a model of wrist
motion is ``poor_signal``, with the reason said once), then, for a model that reads heart data,
the kind of beats (a window whose heart numbers were measured on beats of a kind the model was
not validated on, ECG R-peaks for a model trained on wrist pulse, is ``poor_signal``, with the
reason said once) and the heart source (a window whose heart numbers
come from another stream than the baseline's is ``poor_signal``: its z-scores would compare
two sources), then the calibration period (usable windows with plausible heart data feed the
running baseline and are reported as ``calibrating``, unscored: the model's inputs are z-scores
against that baseline, so there is nothing to score against yet), then the model, then the
patient's Platt correction and threshold. The baseline and the personal calibration live in one
small JSON file per patient when a state directory is given, so a restart resumes rather than
re-calibrates.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsp.stress import (
    DEFAULT_MODEL,
    NO_HEART_MODEL,
    NO_HEART_ROBUST_MODEL,
    ROBUST_MODEL,
    BaselineMismatchError,
    QualityInputs,
    RunningBaseline,
    StressModel,
)
from ingest.private_files import private_dir, write_private
from stream.events import ScoreQuality
from vagus.config import StressModelSettings
from vagus.model.dataset import MAX_RMSSD_MS, MEAN_RR_MS
from vagus.scoring_calibration import PatientCalibration, refit_recalibration

log = logging.getLogger(__name__)

MODEL_METHOD = "stress-logistic/2"
#: The same procedure trained and run with a median/MAD baseline ([stress_model] baseline).
ROBUST_METHOD = "stress-logistic-robust/2"
#: The same procedure on EDA and motion only ([stress_model] inputs = "without_heart").
NO_HEART_METHOD = "stress-logistic-no-heart/2"
#: That model trained and run with a median/MAD baseline.
NO_HEART_ROBUST_METHOD = "stress-logistic-no-heart-robust/2"
#: Each bundled model by the method its scores name (the console states their accuracy).
BUNDLED_METHODS: dict[str, Path] = {
    MODEL_METHOD: DEFAULT_MODEL,
    ROBUST_METHOD: ROBUST_MODEL,
    NO_HEART_METHOD: NO_HEART_MODEL,
    NO_HEART_ROBUST_METHOD: NO_HEART_ROBUST_MODEL,
}


@dataclass(frozen=True, slots=True)
class WindowScore:
    """``probability`` is recalibrated and only set when ``quality`` is ok."""

    probability: float | None
    quality: ScoreQuality
    components: dict[str, float] = field(default_factory=dict)


def bundled_model(settings: StressModelSettings) -> Path:
    """The bundled model the settings choose (baseline estimator, with or without heart data)."""
    robust = settings.baseline == "median_mad"
    if settings.inputs == "without_heart":
        return NO_HEART_ROBUST_MODEL if robust else NO_HEART_MODEL
    return ROBUST_MODEL if robust else DEFAULT_MODEL


def scorer_method(model: StressModel) -> str:
    """The method the scores of ``model`` name (a key of BUNDLED_METHODS for a bundled one)."""
    robust = model.estimator == "median_mad"
    if not model.gate.needs_beats:
        return NO_HEART_ROBUST_METHOD if robust else NO_HEART_METHOD
    return ROBUST_METHOD if robust else MODEL_METHOD


def _plausible(features: Mapping[str, float]) -> bool:
    """Training's baseline used only plausible windows (data caveat 3); so does the gateway's."""
    mean_rr = features.get("hrv_mean_rr", math.nan)
    rmssd = features.get("hrv_rmssd", math.nan)
    return MEAN_RR_MS[0] <= mean_rr <= MEAN_RR_MS[1] and rmssd <= MAX_RMSSD_MS


class StressScorer:
    """Scores one patient's windows with the shared model and their own baseline and knobs."""

    def __init__(
        self,
        *,
        settings: StressModelSettings,
        state_path: Path | None = None,
        model: StressModel | None = None,
        beat_source: str | None = None,
    ) -> None:
        """``beat_source`` ("ecg", "pulse"): where this patient's heart data come from; one the
        model was not validated on is refused here, with the reason (ValueError)."""
        if model is None:
            model = StressModel(bundled_model(settings))
        elif model.estimator != settings.baseline:
            raise ValueError(
                f"the stress model's baseline is {model.estimator}; the settings ask for "
                f"{settings.baseline}"
            )
        self.model = model
        if model.gate.needs_beats != (settings.inputs == "with_heart"):
            raise ValueError(
                f"the stress model reads {'' if model.gate.needs_beats else 'no '}heart data; "
                f"the settings ask for inputs {settings.inputs}"
            )
        self.method = scorer_method(model)
        if beat_source is not None and (reason := self.model.source_refusal(beat_source)):
            raise ValueError(reason)
        self.settings = settings
        self.state_path = state_path
        self.baseline = self._fresh_baseline()
        self._refused_source: str | None = None
        self._refused_kinds: set[str] = set()  # beat kinds the model refused, said once each
        self._refused_sites: set[str] = set()  # motion sites the model refused, said once each
        #: how logs name this patient's scorer: their state file (named by pseudonym), if any
        self._label = state_path.name if state_path is not None else "stress scorer"
        # Every input's z-score goes with each score: a clinician asking why a window scored
        # high needs all of them (a default-model episode can be motion's doing alone).
        self._shown = [f"z_{name}" for name in self.model.features]
        threshold = settings.threshold if settings.threshold is not None else self.model.threshold
        self.calibration = PatientCalibration(
            threshold=threshold,
            platt_slope=settings.platt_slope,
            platt_intercept=settings.platt_intercept,
        )
        if state_path is not None and state_path.is_file():
            self._load(state_path)

    def _fresh_baseline(self) -> RunningBaseline:
        model = self.model
        return RunningBaseline(
            model.features,
            clip=model.clip,
            min_sd=model.min_sd,
            estimator=model.estimator,
            floors=model.scale_floors,
        )

    @property
    def calibrating(self) -> bool:
        return not self.baseline.frozen

    def score(
        self, features: Mapping[str, float], quality: QualityInputs, *, in_calibration_period: bool
    ) -> WindowScore:
        """Gate, learn the baseline or score; see the module docstring for the order."""
        values = self.model.transform(features)
        if (refused := self._refusal(values, quality)) is not None:
            return WindowScore(None, refused)
        if self.calibrating:
            # heart plausibility gates the baseline only of a model that reads heart data
            if self.model.gate.needs_beats and not _plausible(features):
                return WindowScore(None, "poor_signal")
            self.baseline.add(values)
            if self.model.gate.needs_beats and self.baseline.heart_source is None:
                self.baseline.heart_source = quality.heart_source
            enough = self.baseline.windows >= self.settings.min_calibration_windows
            if in_calibration_period or not enough:
                return WindowScore(None, "calibrating")
            self.baseline.frozen = True
            self.save()
        z = self.baseline.z_scores(values)
        raw = self.model.probability(z.astype(np.float32)[None, :])
        if not 0.0 <= raw <= 1.0:
            return WindowScore(None, "missing_features")
        components = {"model_probability": raw}
        components.update(zip(self._shown, map(float, z), strict=True))
        return WindowScore(self.calibration.apply(raw), "ok", components)

    def _refusal(self, values: np.ndarray, quality: QualityInputs) -> ScoreQuality | None:
        """Why a window is not scored nor learnt (the gate, incomplete inputs, another heart
        source than the baseline's), or None."""
        flag = self.model.gate.flag(quality)
        if flag != "ok":
            return flag
        if not self.baseline.usable(values):
            return "missing_features"
        if not self._validated_motion(quality.motion_site):
            return "poor_signal"
        if self.model.gate.needs_beats and not self._validated_beats(quality.beat_kind):
            return "poor_signal"
        if self.model.gate.needs_beats and not self._same_heart_source(quality.heart_source):
            return "poor_signal"
        return None

    def _validated_beats(self, kind: str | None) -> bool:
        """Whether the window's beats are of the kind the model was validated on (any, when
        the caller does not say); says once per kind why not."""
        if kind is None or (reason := self.model.source_refusal(kind)) is None:
            return True
        self._warn_once(
            self._refused_kinds,
            kind,
            "%s: %s: such windows are not scored; for heart data from %s beats, "
            '[stress_model] inputs = "without_heart" (the default) scores EDA and motion',
            reason,
            kind,
        )
        return False

    def _validated_motion(self, site: str | None) -> bool:
        """Whether the window's motion was measured where the model's was (any site, for a
        model without motion inputs or a caller that does not say); says once per site why not."""
        if site is None or (reason := self.model.site_refusal(site)) is None:
            return True
        self._warn_once(
            self._refused_sites,
            site,
            "%s: %s: such windows are not scored; a %s device's accelerometer, or a profile "
            "that declares its site (docs/devices.md), gives the model its input",
            reason,
            self.model.motion_site,
        )
        return False

    def _warn_once(self, said: set[str], key: str, message: str, *args: object) -> None:
        """A refusal's warning (``message`` names this scorer first), the first time ``key``
        is refused: a patient's every window would otherwise repeat it."""
        if key not in said:
            said.add(key)
            log.warning(message, self._label, *args)

    def _same_heart_source(self, source: str | None) -> bool:
        """Whether a window's heart numbers come from the baseline's source (any source while
        the baseline has none yet, or a caller that does not say); says once per change why not."""
        expected = self.baseline.heart_source
        if expected is None or source is None or source == expected:
            self._refused_source = None
            return True
        if source != self._refused_source:
            self._refused_source = source
            log.warning(
                "%s: heart data now come from %s, the baseline from %s; such windows are not "
                "scored until %s is back (a baseline learnt on one source says nothing about "
                "another's heart numbers)",
                self._label,
                source,
                expected,
                expected,
            )
        return False

    def set_calibration(self, calibration: PatientCalibration) -> None:
        """Adopt a new threshold or Platt correction (validated on construction) and persist it."""
        self.calibration = calibration
        self.save()

    def recalibrate(
        self, model_probabilities: Sequence[float], labels: Sequence[bool]
    ) -> PatientCalibration:
        """Refit the Platt correction from labelled windows (their ``model_probability``)."""
        self.set_calibration(
            refit_recalibration(model_probabilities, labels, current=self.calibration)
        )
        return self.calibration

    def save(self) -> None:
        """Write the state atomically (temp file + rename, 0600); a no-op without a state path."""
        if self.state_path is None:
            return
        state = {
            "model": self.model.identity,
            "baseline": self.baseline.to_json(),
            "calibration": {
                "threshold": self.calibration.threshold,
                "platt_slope": self.calibration.platt_slope,
                "platt_intercept": self.calibration.platt_intercept,
            },
        }
        private_dir(self.state_path.parent)  # the patient's baseline: owner-only
        write_private(self.state_path, (json.dumps(state, indent=1) + "\n").encode("utf-8"))

    def _load(self, path: Path) -> None:
        """Resume the saved baseline. A threshold and Platt correction saved under another
        model (or before states named their model) are not resumed: they were fitted to that
        model's probabilities, and an old threshold on a new model can fire far more often. The
        patient keeps their baseline (each feature's statistics stand alone) and gets this
        model's defaults, with a warning, until a clinician sets them again."""
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            saved = PatientCalibration(**state["calibration"])
            baseline = RunningBaseline.from_json(
                state["baseline"],
                self.model.features,
                self.model.estimator,
                floors=self.model.scale_floors,
            )
        except BaselineMismatchError as exc:
            # Switched between mean/SD and median/MAD, or to a model reading inputs the saved
            # baseline never had (heart data): nothing to resume, so this patient calibrates
            # again (and says so).
            log.warning("%s: %s; calibrating again", path.name, exc)
            baseline = self._fresh_baseline()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: unusable stress-model state: {exc}") from exc
        baseline.clip, baseline.min_sd = self.model.clip, self.model.min_sd  # this model's rule
        self.baseline = baseline
        if state.get("model") == self.model.identity:
            self.calibration = saved
            return
        log.warning(
            "%s: saved under another stress model; baseline kept, threshold %.2f and Platt "
            "correction (%.3f, %.3f) replaced by this model's (threshold %.2f)",
            path.name,
            saved.threshold,
            saved.platt_slope,
            saved.platt_intercept,
            self.calibration.threshold,
        )
        self.save()
