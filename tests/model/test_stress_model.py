"""The exported model, its writer and its runtime: parity, refusal, round trip, a training smoke."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from dsp.stress import DEFAULT_MODEL, QualityInputs, StressModel
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
def test_tflite_matches_float_model_on_every_training_window() -> None:
    from vagus.model.dataset import load, normalise

    data = load(_csv())
    x = normalise(data).astype(np.float32)
    model = StressModel()
    assert model.features == data.features
    expected = mlp_forward(read_mlp(DEFAULT_MODEL.read_bytes()), x.astype(np.float64))[:, 0]
    got = np.array([model.probability(row[None, :]) for row in x])
    assert len(got) == len(data.stress) == 590
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@pytest.mark.shared_data
def test_runtime_baseline_reproduces_training_normalisation() -> None:
    from vagus.model.dataset import load, normalise

    data = load(_csv())
    subject = data.subjects == data.subjects[0]
    rows = [dict(zip(data.features, r, strict=True)) for r in data.values[subject]]
    for j, column in enumerate(data.columns):  # the runtime takes untransformed values
        if column == "hrv_lf_hf_ratio":
            for row in rows:
                row[data.features[j]] = float(np.exp(row[data.features[j]]))
    calibration = (data.calibration & data.plausible)[subject]
    model = StressModel()
    model.fit_baseline([r for r, c in zip(rows, calibration, strict=True) if c])
    vector = model.vector(rows[-1])
    assert vector is not None
    np.testing.assert_allclose(model.normalise(vector)[0], normalise(data)[subject][-1], atol=1e-5)


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
    partial = {k: v for k, v in window.items() if k != "hrv_rmssd"}
    assert model.score(partial, GOOD).quality_flag == "missing_features"
    assert model.score(window | {"hrv_rmssd": float("nan")}, GOOD).probability is None


def test_writer_round_trips_a_random_mlp_exactly() -> None:
    rng = np.random.default_rng(7)
    sizes = (6, 9, 4, 1)
    layers = [
        (rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in itertools.pairwise(sizes)
    ]
    blob = mlp_to_tflite(layers)
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
    assert not any("temp" in f["source_column"] for f in sidecar["features"])
    assert 0.0 < sidecar["threshold"] < 1.0
    assert "non-commercial" in sidecar["licence"]


@pytest.mark.shared_data
def test_training_smoke_on_four_subjects(tmp_path: Path) -> None:
    from vagus.model.train import run

    report = run(_csv(), tmp_path, subjects=["S3", "S4", "S5", "S6"])
    assert report["subjects"] == 4
    assert 0.5 < report["loso_accuracy"] <= 1.0
    assert 0.0 <= report["loso_brier"] < 0.25
    model = StressModel(tmp_path / "stress_model.tflite")
    assert model.features == StressModel().features
