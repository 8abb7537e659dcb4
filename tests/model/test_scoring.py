"""Per-patient scoring: quality gate before baseline, calibration, threshold and recalibration."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from dsp.stress import QualityInputs, StressModel
from vagus.config import ConfigError, StressModelSettings, load_config
from vagus.scoring import StressScorer, WindowScore
from vagus.scoring_calibration import PatientCalibration, refit_recalibration


def _heart(**settings: Any) -> StressModelSettings:
    """Settings for the bundled model that reads heart data (the ``model`` fixture)."""
    return StressModelSettings(inputs="with_heart", **settings)


GOOD = QualityInputs(beats=70, rr_artifact_fraction=0.0, motion_fraction=0.0)
NOISY = QualityInputs(beats=70, rr_artifact_fraction=0.5, motion_fraction=0.0)
MOVING = QualityInputs(beats=70, rr_artifact_fraction=0.0, motion_fraction=0.9)


@pytest.fixture(scope="module")
def model() -> StressModel:
    return StressModel()


def _window(model: StressModel, rng: np.random.Generator, shift: float = 0.0) -> dict[str, float]:
    """Plausible raw features around a resting level; ``shift`` moves heart and skin to stress."""
    window = {name: 10.0 + rng.normal(0, 1.0) for name in model.features}
    window["hrv_mean_rr"] = 900.0 + rng.normal(0, 20) - 250.0 * shift
    window["hrv_median_rr"] = window["hrv_mean_rr"]
    window["hrv_rmssd"] = 45.0 + rng.normal(0, 5) - 35.0 * shift
    window["hrv_lf_hf_ratio"] = 1.0 + abs(rng.normal(0, 0.2))
    window["scr_peak_count"] = 1.0 + rng.normal(0, 1) + 6.0 * shift
    window["scl_mean"] = 2.0 + rng.normal(0, 0.2) + 1.5 * shift
    return window


def _calibrated(model: StressModel, tmp_path: Path | None = None) -> StressScorer:
    scorer = StressScorer(
        settings=_heart(min_calibration_windows=30),
        state_path=None if tmp_path is None else tmp_path / "stress-p.json",
        model=model,
    )
    rng = np.random.default_rng(0)
    for _ in range(30):
        assert scorer.score(_window(model, rng), GOOD, in_calibration_period=True).quality == (
            "calibrating"
        )
    return scorer


def test_poor_signal_and_motion_are_refused_and_never_learnt(model: StressModel) -> None:
    scorer = StressScorer(settings=_heart(min_calibration_windows=2), model=model)
    rng = np.random.default_rng(1)
    for quality, flag in ((NOISY, "poor_signal"), (MOVING, "motion")):
        result = scorer.score(_window(model, rng, 5.0), quality, in_calibration_period=True)
        assert (result.quality, result.probability) == (flag, None)
    implausible = _window(model, rng) | {"hrv_mean_rr": 2500.0}
    assert scorer.score(implausible, GOOD, in_calibration_period=True).quality == "poor_signal"
    assert scorer.baseline.windows == 0  # no refused window entered the baseline
    scorer = _calibrated(model)
    window = _window(model, rng)
    assert scorer.score(window, NOISY, in_calibration_period=False).quality == "poor_signal"
    assert scorer.score(window, MOVING, in_calibration_period=False).quality == "motion"
    few = QualityInputs(beats=5, rr_artifact_fraction=0.0, motion_fraction=0.0)
    assert scorer.score(window, few, in_calibration_period=False).probability is None
    partial = {k: v for k, v in window.items() if k != "hrv_rmssd"}
    assert scorer.score(partial, GOOD, in_calibration_period=False).quality == "missing_features"


def test_calibration_continues_until_enough_usable_windows(model: StressModel) -> None:
    scorer = StressScorer(settings=_heart(min_calibration_windows=5), model=model)
    rng = np.random.default_rng(2)
    for quality in (GOOD, NOISY, GOOD, MOVING, GOOD):
        scorer.score(_window(model, rng), quality, in_calibration_period=True)
    # The period is over with 3 usable windows: the next one is learnt (4), still calibrating;
    # the one after completes the baseline (5) and is scored against it.
    assert scorer.score(_window(model, rng), GOOD, in_calibration_period=False).quality == (
        "calibrating"
    )
    assert scorer.score(_window(model, rng), GOOD, in_calibration_period=False).quality == "ok"
    assert scorer.baseline.frozen and scorer.baseline.windows == 5


def test_scores_separate_rest_from_a_shifted_window(model: StressModel) -> None:
    scorer = _calibrated(model)
    rng = np.random.default_rng(3)
    rest = scorer.score(_window(model, rng), GOOD, in_calibration_period=False)
    stress = scorer.score(_window(model, rng, 1.0), GOOD, in_calibration_period=False)
    assert rest.probability is not None and stress.probability is not None
    print(f"rest p={rest.probability:.3f}, stressed p={stress.probability:.3f}")
    assert rest.probability < scorer.calibration.threshold <= stress.probability
    assert stress.components["model_probability"] == stress.probability  # identity correction


def test_a_score_shows_the_z_of_every_input_motion_too() -> None:
    """A clinician asking why a window scored high sees every input's z: with the default
    model (no heart data) an episode can be motion's doing alone."""
    scorer = StressScorer(settings=StressModelSettings(min_calibration_windows=20))
    features = scorer.model.features
    assert "acc_magnitude_std" in features
    rng = np.random.default_rng(5)
    for _ in range(20):
        window = {n: 2.0 + rng.normal(0, 0.3) for n in features}
        scorer.score(window, GOOD, in_calibration_period=True)
    moving = {n: float(scorer.baseline.mean[k]) for k, n in enumerate(features)}
    moving["acc_magnitude_std"] += 3.0
    result = scorer.score(moving, GOOD, in_calibration_period=False)
    assert result.quality == "ok"
    assert set(result.components) == {"model_probability", *(f"z_{n}" for n in features)}
    assert result.components["z_acc_magnitude_std"] > 2.0
    assert result.components["z_scl_mean"] == pytest.approx(0.0, abs=1e-9)


def test_threshold_and_platt_change_decisions_without_retraining() -> None:
    base = PatientCalibration(threshold=0.46)
    assert base.is_stress(0.5) and not base.is_stress(0.4)
    stricter = PatientCalibration(threshold=0.6)
    assert not stricter.is_stress(0.5)
    cooler = PatientCalibration(threshold=0.46, platt_slope=1.0, platt_intercept=-1.0)
    assert cooler.apply(0.5) == pytest.approx(1 / (1 + math.e))
    assert not cooler.is_stress(0.6) and cooler.is_stress(0.8)
    sharper = PatientCalibration(threshold=0.5, platt_slope=3.0)
    assert sharper.apply(0.6) > 0.6 and sharper.apply(0.4) < 0.4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": 0.5, "platt_slope": 0.0}, "platt_slope"),
        ({"threshold": 0.5, "platt_slope": -1.0}, "invert"),
        ({"threshold": 0.5, "platt_intercept": float("inf")}, "platt_intercept"),
        ({"threshold": 0.5, "platt_intercept": 50.0}, "platt_intercept"),
    ],
)
def test_impossible_calibrations_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PatientCalibration(**kwargs)


def test_impossible_settings_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "vagus.toml"
    path.write_text("[stress_model]\nthreshold = 1.2\n")
    with pytest.raises(ConfigError, match="threshold"):
        load_config(path)
    path.write_text("[stress_model]\nthreshold = 0.55\nplatt_intercept = -0.5\n")
    assert load_config(path).stress_model.threshold == 0.55
    with pytest.raises(msgspec.ValidationError, match="min_calibration_windows"):
        msgspec.convert({"min_calibration_windows": 1}, StressModelSettings)


def test_refit_moves_a_hot_model_down_and_keeps_the_threshold() -> None:
    # The model says 0.7 for this patient's calm windows and 0.95 when they report stress.
    p = [0.7] * 8 + [0.95] * 4
    labels = [False] * 8 + [True] * 4
    fitted = refit_recalibration(p, labels, current=PatientCalibration(threshold=0.46))
    print(f"refit: slope {fitted.platt_slope:.3f}, intercept {fitted.platt_intercept:.3f}")
    assert fitted.threshold == 0.46
    assert not fitted.is_stress(0.7)
    assert fitted.is_stress(0.95)


def test_refit_refuses_too_few_one_sided_or_contradicting_labels() -> None:
    current = PatientCalibration(threshold=0.5)
    with pytest.raises(ValueError, match="at least"):
        refit_recalibration([0.2, 0.9], [False, True], current=current)
    with pytest.raises(ValueError, match="both outcomes"):
        refit_recalibration([0.2] * 8, [False] * 8, current=current)
    with pytest.raises(ValueError, match="contradict"):
        refit_recalibration(
            [0.99] * 10 + [0.01] * 10, [False] * 10 + [True] * 10, current=current, prior_sd=100
        )


def test_state_round_trip_resumes_without_recalibrating(tmp_path: Path, model: StressModel) -> None:
    scorer = _calibrated(model, tmp_path)
    rng = np.random.default_rng(4)
    window = _window(model, rng, 0.5)
    first = scorer.score(window, GOOD, in_calibration_period=False)
    assert (tmp_path / "stress-p.json").is_file()
    resumed = StressScorer(settings=_heart(), state_path=tmp_path / "stress-p.json", model=model)
    assert not resumed.calibrating
    assert resumed.score(window, GOOD, in_calibration_period=True) == first
    resumed.recalibrate([0.7] * 8 + [0.95] * 4, [False] * 8 + [True] * 4)
    again = StressScorer(settings=_heart(), state_path=tmp_path / "stress-p.json", model=model)
    assert again.calibration == resumed.calibration != scorer.calibration
    (tmp_path / "stress-p.json").write_text('{"baseline": {"format": "other"}}')
    with pytest.raises(ValueError, match="unusable stress-model state"):
        StressScorer(settings=_heart(), state_path=tmp_path / "stress-p.json", model=model)


def test_a_beat_source_the_model_was_not_validated_on_is_refused(model: StressModel) -> None:
    assert model.beat_source == "pulse"  # WESAD's heart features: E4 BVP beats
    assert model.source_refusal("pulse") is None
    with pytest.raises(ValueError, match="validated on pulse beats only; heart data from ecg"):
        StressScorer(settings=_heart(), model=model, beat_source="ecg")
    assert StressScorer(settings=_heart(), model=model, beat_source="pulse")


def test_windows_of_beats_the_model_was_not_validated_on_are_neither_learnt_nor_scored(
    model: StressModel, caplog: pytest.LogCaptureFixture
) -> None:
    """The runtime's side of the refusal: each window says what its beats were measured on
    (dsp.streaming.stages.BEAT_KIND); ECG R-peaks on a model trained on wrist pulse are
    poor_signal, never enter the baseline, and the reason is said once."""
    ecg = QualityInputs(
        beats=70, rr_artifact_fraction=0.0, motion_fraction=0.0, heart_source="rr", beat_kind="ecg"
    )
    pulse = QualityInputs(
        beats=70,
        rr_artifact_fraction=0.0,
        motion_fraction=0.0,
        heart_source="bvp",
        beat_kind="pulse",
    )
    scorer = StressScorer(settings=_heart(min_calibration_windows=2), model=model)
    rng = np.random.default_rng(9)
    with caplog.at_level(logging.WARNING, logger="vagus.scoring"):
        for in_period in (True, True, False, False):
            refused = scorer.score(_window(model, rng), ecg, in_calibration_period=in_period)
            assert refused == WindowScore(None, "poor_signal")
    assert scorer.baseline.windows == 0
    assert caplog.text.count("validated on pulse beats only; heart data from ecg beats") == 1
    assert 'inputs = "without_heart"' in caplog.text
    for _ in range(2):
        scorer.score(_window(model, rng), pulse, in_calibration_period=False)
    assert scorer.score(_window(model, rng), pulse, in_calibration_period=False).quality == "ok"
    # the model without heart data reads no beats: their kind does not matter to it
    no_heart = StressScorer(settings=StressModelSettings(inputs="without_heart"))
    window = {k: v for k, v in _window(model, rng).items() if not k.startswith("hrv_")} | {
        "acc_magnitude_std": 1.0
    }
    assert no_heart.score(window, ecg, in_calibration_period=True).quality == "calibrating"


def test_a_new_model_keeps_the_baseline_but_not_the_old_models_threshold(
    tmp_path: Path, model: StressModel, caplog: pytest.LogCaptureFixture
) -> None:
    """A threshold fitted to one model's probabilities is not carried over to another model."""
    scorer = _calibrated(model, tmp_path)
    window = _window(model, np.random.default_rng(5), 0.5)
    assert scorer.score(window, GOOD, in_calibration_period=False).quality == "ok"  # frozen
    scorer.set_calibration(PatientCalibration(threshold=0.3, platt_slope=1.2, platt_intercept=0.1))
    path = tmp_path / "stress-p.json"
    same = StressScorer(settings=_heart(), state_path=path, model=model)
    assert same.calibration == scorer.calibration and not same.calibrating
    state = json.loads(path.read_text())
    state["model"] = "0" * 64  # saved under another model
    path.write_text(json.dumps(state))
    with caplog.at_level(logging.WARNING, logger="vagus.scoring"):
        other = StressScorer(settings=_heart(), state_path=path, model=model)
    assert "saved under another stress model" in caplog.text and "threshold 0.30" in caplog.text
    assert other.calibration.threshold == model.threshold
    assert (other.calibration.platt_slope, other.calibration.platt_intercept) == (1.0, 0.0)
    assert not other.calibrating  # the baseline is kept: no new calibration period
    probe = scorer.baseline.mean.copy()
    np.testing.assert_array_equal(other.baseline.z_scores(probe), scorer.baseline.z_scores(probe))
    assert json.loads(path.read_text())["model"] == model.identity  # rewritten under this model


def test_the_median_mad_setting_scores_with_the_robust_twin_and_recalibrates_a_mean_sd_state(
    tmp_path: Path, model: StressModel, caplog: pytest.LogCaptureFixture
) -> None:
    """[stress_model] baseline chooses the bundled model, the baseline estimator and the method
    named in events; a saved mean/SD baseline cannot become a median/MAD one, so the patient
    calibrates again, with a warning, instead of the gateway failing to start."""
    robust = StressScorer(settings=_heart(baseline="median_mad"))
    assert robust.model.estimator == robust.baseline.estimator == "median_mad"
    assert robust.method == "stress-logistic-robust/2"
    assert StressScorer(settings=_heart()).method == "stress-logistic/2"
    assert StressScorer(settings=StressModelSettings()).method == "stress-logistic-no-heart/2"
    with pytest.raises(ValueError, match="settings ask for median_mad"):
        StressScorer(settings=_heart(baseline="median_mad"), model=model)
    scorer = _calibrated(model, tmp_path)
    window = _window(model, np.random.default_rng(5), 0.5)
    assert scorer.score(window, GOOD, in_calibration_period=False).quality == "ok"  # saved
    path = tmp_path / "stress-p.json"
    with caplog.at_level(logging.WARNING, logger="vagus.scoring"):
        switched = StressScorer(settings=_heart(baseline="median_mad"), state_path=path)
    assert "made with mean_sd, this model needs median_mad; calibrating again" in caplog.text
    assert switched.calibrating and switched.baseline.windows == 0
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"baseline": "mean"}, StressModelSettings)


def test_inputs_without_heart_score_a_patient_whose_devices_give_no_heart_data(
    tmp_path: Path, model: StressModel, caplog: pytest.LogCaptureFixture
) -> None:
    """[stress_model] inputs = "without_heart" (the default): the bundled model on EDA and motion
    only; windows with no beats and no heart features calibrate and are scored (the model with
    heart data refuses every one of them), the method says so, and switching to the model with
    heart data later makes the patient calibrate again rather than resume a baseline with no
    heart statistics."""
    settings = StressModelSettings(inputs="without_heart", min_calibration_windows=20)
    scorer = StressScorer(settings=settings, state_path=tmp_path / "stress-p.json")
    assert scorer.method == "stress-logistic-no-heart/2"
    assert not any(name.startswith("hrv_") for name in scorer.model.features)
    no_beats = QualityInputs(beats=0, rr_artifact_fraction=None, motion_fraction=0.0)
    rng = np.random.default_rng(6)
    skin_only = [
        {k: v for k, v in _window(model, rng).items() if not k.startswith("hrv_")}
        | {"acc_magnitude_std": 1.0 + rng.normal(0, 0.2)}
        for _ in range(20)
    ]
    with_heart = StressScorer(settings=_heart(min_calibration_windows=20))
    for window in skin_only:
        result = scorer.score(window, no_beats, in_calibration_period=True)
        assert result.quality == "calibrating"
        refused = with_heart.score(window, no_beats, in_calibration_period=True)
        assert refused.quality == "poor_signal"
    calm = scorer.score(skin_only[0], no_beats, in_calibration_period=False)
    stressed_window = {
        k: v for k, v in _window(model, rng, 1.0).items() if not k.startswith("hrv_")
    } | {"acc_magnitude_std": 3.0}
    stressed = scorer.score(stressed_window, no_beats, in_calibration_period=False)
    assert calm.quality == stressed.quality == "ok"
    assert calm.probability is not None and stressed.probability is not None
    assert stressed.probability > scorer.calibration.threshold > calm.probability

    with caplog.at_level(logging.WARNING, logger="vagus.scoring"):
        back = StressScorer(settings=_heart(), state_path=tmp_path / "stress-p.json")
    assert "no statistics for" in caplog.text and "calibrating again" in caplog.text
    assert back.calibrating and back.baseline.windows == 0


def test_each_model_has_its_median_mad_twin_and_a_mismatch_is_refused(
    model: StressModel,
) -> None:
    """baseline = "median_mad" chooses the robust twin of whichever model the inputs choose; a
    model file that does not match the settings is refused with the reason."""
    twin = StressScorer(settings=StressModelSettings(baseline="median_mad"))  # default inputs
    assert twin.method == "stress-logistic-no-heart-robust/2"
    assert twin.model.estimator == twin.baseline.estimator == "median_mad"
    assert not twin.model.gate.needs_beats
    assert not any(name.startswith("hrv_") for name in twin.model.features)
    with pytest.raises(ValueError, match="reads heart data; the settings ask for inputs without"):
        StressScorer(settings=StressModelSettings(inputs="without_heart"), model=model)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"inputs": "eda"}, StressModelSettings)


def test_heart_numbers_from_another_source_than_the_baselines_are_not_scored(
    tmp_path: Path, model: StressModel, caplog: pytest.LogCaptureFixture
) -> None:
    """A baseline learnt on the ECG: when the ECG strap is off and the window's heart numbers
    come from wrist pulse, the window is refused (z-scores of pulse against an ECG baseline
    compare two sources), said once, and scoring resumes with the ECG; after a restart too."""
    ecg = QualityInputs(beats=70, rr_artifact_fraction=0.0, motion_fraction=0.0, heart_source="ecg")
    pulse = QualityInputs(
        beats=70, rr_artifact_fraction=0.0, motion_fraction=0.0, heart_source="bvp"
    )
    scorer = StressScorer(
        settings=_heart(min_calibration_windows=30),
        state_path=tmp_path / "stress-p.json",
        model=model,
    )
    rng = np.random.default_rng(8)
    for _ in range(30):
        assert scorer.score(_window(model, rng), ecg, in_calibration_period=True).quality == (
            "calibrating"
        )
    # a pulse window inside the calibration period is not learnt either
    assert scorer.score(_window(model, rng), pulse, in_calibration_period=True).quality == (
        "poor_signal"
    )
    assert scorer.baseline.windows == 30 and scorer.baseline.heart_source == "ecg"
    with caplog.at_level(logging.WARNING, logger="vagus.scoring"):
        for _ in range(3):
            refused = scorer.score(_window(model, rng), pulse, in_calibration_period=False)
            assert refused.quality == "poor_signal" and refused.probability is None
    assert caplog.text.count("heart data now come from bvp, the baseline from ecg") == 1
    assert "stress-p.json" in caplog.text  # the pseudonymous state file names the patient
    assert scorer.score(_window(model, rng), ecg, in_calibration_period=False).quality == "ok"
    resumed = StressScorer(
        settings=_heart(min_calibration_windows=30),
        state_path=tmp_path / "stress-p.json",
        model=model,
    )
    assert resumed.baseline.heart_source == "ecg"
    assert resumed.score(_window(model, rng), pulse, in_calibration_period=False).quality == (
        "poor_signal"
    )
    # a model without heart data reads none, so it never asks where they came from
    no_heart = StressScorer(settings=StressModelSettings(inputs="without_heart"))
    window = {k: v for k, v in _window(model, rng).items() if not k.startswith("hrv_")} | {
        "acc_magnitude_std": 1.0
    }
    assert no_heart.score(window, pulse, in_calibration_period=True).quality == "calibrating"
    assert no_heart.baseline.heart_source is None
