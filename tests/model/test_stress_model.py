"""The exported model, its writer and its runtime: the shipped file is the validated procedure's
final fit, parity, refusal, round trip, a training smoke."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from dsp.stress import (
    DEFAULT_MODEL,
    FEATURE_NAMES,
    NO_HEART_MODEL,
    NO_HEART_ROBUST_MODEL,
    ROBUST_MODEL,
    SCALE_FLOORS,
    QualityInputs,
    StressModel,
)
from dsp.stress.model import UNDECLARED_SITE
from vagus.model import export
from vagus.model.dataset import Dataset
from vagus.model.nested import Choice
from vagus.model.report_keys import RUNTIME_KEY
from vagus.model.tflite_writer import mlp_forward, mlp_to_tflite, read_mlp

DATA = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "stress"
) / "wesad_wrist_features_60s.csv"
GOOD = QualityInputs(beats=70, rr_artifact_fraction=0.02, motion_fraction=0.05)


def _csv() -> Path:
    if not DATA.is_file():
        pytest.skip(f"WESAD features not present at {DATA} (../shared/data is not in a clone)")
    return DATA


@pytest.mark.shared_data
def test_bundled_file_is_the_validated_procedures_final_fit_on_every_window() -> None:
    """Refit the nested procedure on every subject (runtime protocol, with heart data) and score
    all 590 windows both ways: the .tflite must give Choice.probability, so the nested figures
    describe what runs. 1e-5: float32 weights and inputs in the file against float64 here."""
    from vagus.model.dataset import load
    from vagus.model.nested import final_fit, normalise_first

    data = load(_csv())
    x = normalise_first(data)
    choice = final_fit(data, x)
    model = StressModel()
    assert model.features == list(choice.features)
    assert model.threshold == choice.threshold
    inputs = x[:, [data.features.index(name) for name in choice.features]]
    got = np.array([model.probability(row[None, :]) for row in inputs.astype(np.float32)])
    assert len(got) == len(data.stress) == 590
    np.testing.assert_allclose(got, choice.probability(inputs), rtol=0, atol=1e-5)
    assert np.ptp(got) > 0.9  # not a constant: the comparison can fail


@pytest.mark.shared_data
def test_bundled_robust_twin_is_the_procedures_final_fit_on_median_mad_calibrations() -> None:
    """The same for the median/MAD twin ([stress_model] baseline = "median_mad")."""
    from vagus.model.dataset import load
    from vagus.model.nested import final_fit, normalise_first

    data = load(_csv())
    x = normalise_first(data, robust=True)
    choice = final_fit(data, x)
    model = StressModel(ROBUST_MODEL)
    assert model.estimator == "median_mad" and StressModel().estimator == "mean_sd"
    assert model.features == list(choice.features) and model.threshold == choice.threshold
    inputs = x[:, [data.features.index(name) for name in choice.features]]
    got = np.array([model.probability(row[None, :]) for row in inputs.astype(np.float32)])
    np.testing.assert_allclose(got, choice.probability(inputs), rtol=0, atol=1e-5)
    assert np.ptp(got) > 0.9
    sidecar = json.loads(ROBUST_MODEL.with_suffix(".json").read_text())
    assert "median, 1.4826 x MAD" in sidecar["normalisation"]["method"]
    assert sidecar["validation"]["stressor_in_calibration"]["macro_f1"] > 0.0


@pytest.mark.shared_data
def test_bundled_no_heart_twin_is_the_procedures_final_fit_without_heart_data() -> None:
    """The same for the model without heart data ([stress_model] inputs = "without_heart"):
    the procedure's choice among WITHOUT_HEART, and a sidecar saying it reads no beats."""
    from vagus.model.dataset import load
    from vagus.model.nested import WITHOUT_HEART, final_fit, normalise_first

    data = load(_csv())
    x = normalise_first(data)
    choice = final_fit(data, x, WITHOUT_HEART)
    model = StressModel(NO_HEART_MODEL)
    assert model.features == list(choice.features) and model.threshold == choice.threshold
    assert not any(name.startswith("hrv_") for name in model.features)
    inputs = x[:, [data.features.index(name) for name in choice.features]]
    got = np.array([model.probability(row[None, :]) for row in inputs.astype(np.float32)])
    np.testing.assert_allclose(got, choice.probability(inputs), rtol=0, atol=1e-5)
    assert np.ptp(got) > 0.9
    sidecar = json.loads(NO_HEART_MODEL.with_suffix(".json").read_text())
    assert sidecar["beat_source"] == "none" and model.estimator == "mean_sd"
    assert sidecar["validation"]["stress_predict"]["gateway_replay"]["windows"] > 0


@pytest.mark.shared_data
def test_bundled_no_heart_robust_twin_is_the_procedures_final_fit_on_median_mad_calibrations() -> (
    None
):
    """The same for the default model's median/MAD twin ([stress_model] baseline =
    "median_mad" with the default inputs)."""
    from vagus.model.dataset import load
    from vagus.model.nested import WITHOUT_HEART, final_fit, normalise_first

    data = load(_csv())
    x = normalise_first(data, robust=True)
    choice = final_fit(data, x, WITHOUT_HEART)
    model = StressModel(NO_HEART_ROBUST_MODEL)
    assert model.features == list(choice.features) and model.threshold == choice.threshold
    assert model.estimator == "median_mad" and not model.gate.needs_beats
    inputs = x[:, [data.features.index(name) for name in choice.features]]
    got = np.array([model.probability(row[None, :]) for row in inputs.astype(np.float32)])
    np.testing.assert_allclose(got, choice.probability(inputs), rtol=0, atol=1e-5)
    sidecar = json.loads(NO_HEART_ROBUST_MODEL.with_suffix(".json").read_text())
    assert sidecar["beat_source"] == "none"
    assert sidecar["validation"]["stressor_in_calibration"]["macro_f1"] > 0.0
    assert sidecar["validation"]["stress_predict"]["gateway_replay"]["windows"] > 0


def test_a_model_without_heart_data_needs_no_beats_but_still_refuses_motion() -> None:
    """No beats, or beats all artefact, are no reason to refuse a model that never reads them;
    heavy motion still is; and it refuses no beat source (it reads none)."""
    model = StressModel(NO_HEART_MODEL)
    window = {name: 1.0 for name in model.features}
    model.fit_baseline([{n: v + k for n, v in window.items()} for k in (0.0, 0.5, 1.0)])
    no_beats = QualityInputs(beats=0, rr_artifact_fraction=None, motion_fraction=0.05)
    assert model.score(window, no_beats).quality_flag == "ok"
    assert model.score(window, no_beats) == model.score(window, GOOD)
    moving = QualityInputs(beats=0, rr_artifact_fraction=None, motion_fraction=0.9)
    assert model.score(window, moving).quality_flag == "motion"
    assert model.source_refusal("ecg") is None
    assert StressModel().source_refusal("ecg") is not None  # the default model reads beats
    assert StressModel().score(window, no_beats).quality_flag == "poor_signal"


def _choice(features: tuple[str, ...], seed: int) -> Choice:
    rng = np.random.default_rng(seed)
    return Choice(
        subset="synthetic",
        features=features,
        strength=0.1,
        platt=(1.7, -0.4),
        threshold=0.55,
        weights=rng.normal(size=len(features)),
        bias=float(rng.normal()),
    )


def _figures() -> dict[str, object]:
    per_subject = {"a": {"accuracy": 0.9, "macro_f1": 0.8, "windows": 10}}
    runtime = {
        "accuracy": 0.9,
        "macro_f1": 0.8,
        "worst_subject": "a",
        "worst_subject_accuracy": 0.9,
        "worst_subject_windows": 10,
        "ece": 0.05,
        "ece_bins": "10",
        "ci95": {"accuracy": [0.9, 0.9], "macro_f1": [0.8, 0.8], "ece": [0.05, 0.05]},
        "per_subject": per_subject,
    }
    return {"protocol": "synthetic", RUNTIME_KEY: runtime}


def test_exported_file_gives_the_choices_calibrated_probability(tmp_path: Path) -> None:
    """A Choice through export.write and StressModel: one dense layer with the Platt map folded
    in, features looked up by name whatever the order of the window's dict."""
    names = ["hrv_rmssd", "scl_mean", "acc_sma", "hrv_lf_hf_ratio", "scr_peak_count"]
    choice = _choice(("scr_peak_count", "hrv_lf_hf_ratio", "scl_mean"), seed=3)
    data = Dataset(
        names,
        [f"z_{n}" if n != "hrv_lf_hf_ratio" else n for n in names],
        np.zeros((2, len(names))),
        np.array([0, 1]),
        np.array(["a", "a"]),
        np.zeros(2, dtype=bool),
        np.ones(2, dtype=bool),
        "synthetic",
    )
    described = export.sidecar(choice, data, "synthetic.csv", _figures(), {"note": "none"})
    path = export.write(tmp_path, choice, described)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert [f["name"] for f in sidecar["features"]] == list(choice.features)
    assert [f["transform"] for f in sidecar["features"]] == [None, "log", None]
    assert sidecar["architecture"]["hidden"] == []
    assert sidecar["validation"]["accuracy"] == 0.9 and sidecar["validation"]["windows"] == 10

    (weights, bias), *rest = read_mlp(path.read_bytes())
    assert not rest and np.shape(weights) == (3, 1) and np.shape(bias) == (1,)
    model = StressModel(path)
    assert model.features == list(choice.features) and model.threshold == 0.55
    x = np.clip(np.random.default_rng(4).normal(0, 3, (200, 3)), -8, 8)
    got = np.array([model.probability(row[None, :]) for row in x.astype(np.float32)])
    np.testing.assert_allclose(got, choice.probability(x), rtol=0, atol=1e-5)
    assert np.ptp(got) > 0.5

    raw = {"scl_mean": 3.0, "hrv_rmssd": 40.0, "hrv_lf_hf_ratio": np.e, "scr_peak_count": 2.0}
    vector = model.vector(raw)
    assert vector is not None
    np.testing.assert_allclose(vector, [2.0, 1.0, 3.0])  # model order, ln applied


@pytest.mark.shared_data
def test_runtime_baseline_reproduces_training_normalisation() -> None:
    """The runtime protocol: a subject's first CALIBRATION_WINDOWS plausible windows."""
    from vagus.model.dataset import load
    from vagus.model.nested import CALIBRATION_WINDOWS, normalise_first

    data = load(_csv())
    subject = data.subjects == data.subjects[0]
    rows = [dict(zip(data.features, r, strict=True)) for r in data.values[subject]]
    for j, column in enumerate(data.columns):  # the runtime takes untransformed values
        if column == "hrv_lf_hf_ratio":
            for row in rows:
                row[data.features[j]] = float(np.exp(row[data.features[j]]))
    plausible = data.plausible[subject]
    calibration = [r for r, ok in zip(rows, plausible, strict=True) if ok][:CALIBRATION_WINDOWS]
    model = StressModel()
    model.fit_baseline(calibration)
    columns = [data.features.index(name) for name in model.features]
    expected = normalise_first(data)[subject][:, columns]
    for k in (len(rows) // 2, len(rows) - 1):
        vector = model.vector(rows[k])
        assert vector is not None
        np.testing.assert_allclose(model.normalise(vector)[0], expected[k], atol=1e-5)


def test_runtime_refuses_poor_signal_heavy_motion_and_missing_features() -> None:
    model = StressModel()
    window = {name: 1.0 for name in model.features}
    model.fit_baseline([{n: v + k for n, v in window.items()} for k in (0.0, 0.5, 1.0)])
    assert model.score(window, GOOD).probability is not None
    assert model.score(window, GOOD).quality_flag == "ok"

    noisy = QualityInputs(beats=70, rr_artifact_fraction=0.45, motion_fraction=0.05)
    too_few_beats = QualityInputs(beats=8, rr_artifact_fraction=0.0, motion_fraction=0.0)
    moving = QualityInputs(beats=70, rr_artifact_fraction=0.02, motion_fraction=0.9)
    assert model.score(window, noisy) == model.score(window, too_few_beats)
    assert model.score(window, noisy).probability is None
    assert model.score(window, noisy).quality_flag == "poor_signal"
    assert model.score(window, moving).probability is None
    assert model.score(window, moving).quality_flag == "motion"
    dropped = model.features[0]
    partial = {k: v for k, v in window.items() if k != dropped}
    assert model.score(partial, GOOD).quality_flag == "missing_features"
    assert model.score(window | {dropped: float("nan")}, GOOD).probability is None


@pytest.mark.parametrize("sizes", [(6, 9, 4, 1), (5, 1)])
def test_writer_round_trips_a_random_mlp_exactly(sizes: tuple[int, ...]) -> None:
    """Hidden layers, and none (a logistic regression: one dense layer, then LOGISTIC)."""
    rng = np.random.default_rng(7)
    layers = [
        (rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in itertools.pairwise(sizes)
    ]
    blob = mlp_to_tflite(layers)
    assert len(read_mlp(blob)) == len(sizes) - 1
    for (weights, bias), (back_w, back_b) in zip(layers, read_mlp(blob), strict=True):
        assert np.array_equal(back_w, weights)
        assert np.array_equal(back_b, bias)

    interpreter = Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    x = rng.normal(size=(50, sizes[0])).astype(np.float32)
    got = []
    for row in x:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], row[None, :])
        interpreter.invoke()
        got.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0, 0])
    np.testing.assert_allclose(got, mlp_forward(layers, x)[:, 0], rtol=0, atol=1e-6)


def test_sidecar_describes_the_committed_model() -> None:
    sidecar = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    names = [f["name"] for f in sidecar["features"]]
    assert not any("temp" in f["source_column"] for f in sidecar["features"])
    assert set(names) <= set(FEATURE_NAMES)  # the gateway computes every input
    assert 0.0 < sidecar["threshold"] < 1.0
    assert "non-commercial" in sidecar["licence"]
    assert sidecar["beat_source"] == "pulse"
    assert sidecar["architecture"]["hidden"] == []
    assert sidecar["architecture"]["kind"] == "logistic regression"
    assert "first 20 usable 60 s windows" in sidecar["normalisation"]["method"]
    validation = sidecar["validation"]
    assert validation["method"].startswith("nested leave-one-subject-out")
    for key in ("accuracy", "macro_f1", "worst_subject_accuracy", "ece"):
        assert 0.0 <= validation[key] <= 1.0
    for key in ("accuracy", "macro_f1", "ece"):  # the subject-level bootstrap interval
        low, high = validation["ci95"][key]
        assert 0.0 <= low <= validation[key] <= high <= 1.0
    assert "NOT the shipped model" in sidecar["comparison_not_shipped"]["note"]
    (weights, bias), *rest = read_mlp(DEFAULT_MODEL.read_bytes())
    assert not rest and np.shape(weights) == (len(names), 1) and np.shape(bias) == (1,)


@pytest.mark.parametrize(
    "path",
    [DEFAULT_MODEL, ROBUST_MODEL, NO_HEART_MODEL, NO_HEART_ROBUST_MODEL],
    ids=lambda p: p.stem,
)
def test_every_bundled_model_declares_the_scale_floors_it_was_trained_with(path: Path) -> None:
    """The runtime applies the floors the sidecar lists; training used SCALE_FLOORS, so each
    bundled sidecar lists exactly those of its inputs (motion and SCR count are in all four)."""
    model = StressModel(path)
    expected = {n: SCALE_FLOORS[n] for n in model.features if n in SCALE_FLOORS}
    assert model.scale_floors == expected
    assert set(expected) == {"acc_magnitude_std", "scr_peak_count"}


@pytest.mark.parametrize("floors", [{"hrv_sdnn": 1.0}, {"scr_peak_count": -1.0}])
def test_a_sidecar_with_impossible_floors_is_refused(
    tmp_path: Path, floors: dict[str, float]
) -> None:
    path = tmp_path / NO_HEART_MODEL.name
    path.write_bytes(NO_HEART_MODEL.read_bytes())
    sidecar = json.loads(NO_HEART_MODEL.with_suffix(".json").read_text())
    sidecar["normalisation"]["scale_floors"] = floors
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="scale floors"):
        StressModel(path)


@pytest.mark.shared_data
def test_training_smoke_on_four_subjects(tmp_path: Path) -> None:
    from vagus.model.train import run

    report = run(_csv(), tmp_path, subjects=["S3", "S4", "S5", "S6"])
    assert report["subjects"] == 4
    assert 0.5 < report["loso_accuracy"] <= 1.0  # the comparison MLP's
    assert 0.0 <= report["loso_brier"] < 0.25
    model = StressModel(tmp_path / "stress_model.tflite")
    exported = report["exported"]
    assert model.features == exported["features"]
    assert model.threshold == exported["threshold"] == report["threshold"]
    sidecar = json.loads((tmp_path / "stress_model.json").read_text())
    runtime = report["nested"]["runtime_protocol"]
    assert sidecar["validation"]["accuracy"] == runtime["accuracy"]
    assert sidecar["validation"]["worst_subject"] == runtime["worst_subject"]
    final = report["nested"]["final_with_heart"]
    assert (final["features"], final["C"]) == (exported["features"], exported["C"])
    no_heart = StressModel(tmp_path / "stress_model_no_heart.tflite")
    assert no_heart.features == report["exported_without_heart"]["features"]
    assert not no_heart.gate.needs_beats and model.gate.needs_beats
    twin = StressModel(tmp_path / "stress_model_no_heart_robust.tflite")
    assert twin.features == report["exported_without_heart_robust_baseline"]["features"]
    assert twin.estimator == "median_mad" and not twin.gate.needs_beats


@pytest.mark.parametrize(
    "path", [DEFAULT_MODEL, ROBUST_MODEL, NO_HEART_MODEL, NO_HEART_ROBUST_MODEL]
)
def test_every_bundled_model_takes_motion_from_the_wrist_only(path: Path, tmp_path: Path) -> None:
    """WESAD's motion was the E4's, on the wrist: each sidecar says so, and the model refuses a
    chest strap's motion or motion from a device that does not say where it sits."""
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["motion_site"] == "wrist"
    model = StressModel(path)
    assert model.motion_site == "wrist" and model.site_refusal("wrist") is None
    assert "motion measured at chest is refused" in str(model.site_refusal("chest"))
    assert "does not declare" in str(model.site_refusal(UNDECLARED_SITE))
    assert "vagus import e4" in str(model.site_refusal(UNDECLARED_SITE))  # how to mend old imports
    # a sidecar from before the field: its motion was WESAD's too
    del sidecar["motion_site"]
    shutil.copy(path, tmp_path / path.name)
    (tmp_path / path.name).with_suffix(".json").write_text(json.dumps(sidecar))
    assert StressModel(tmp_path / path.name).motion_site == "wrist"
