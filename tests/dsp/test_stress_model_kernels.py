"""The stress model's input kernels equal their numpy twins, undefined values included.

The bundled model takes only a few features (no log transform, no neutral feature among them), so
the kernels are also held against their twins on a 38-input model written here: every feature
the gateway computes, ln(LF/HF) and the neutral SCR times included.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.stress import DEFAULT_MODEL, FEATURE_NAMES, StressModel
from dsp.stress.baseline import NEUTRAL_WHEN_UNDEFINED, RunningBaseline
from vagus.model.tflite_writer import write_mlp

MODEL = StressModel()
SPECIAL = st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf, 1e-300, 1e300])
VALUE = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), SPECIAL)
N = len(FEATURE_NAMES)


def _every_feature_model(folder: Path) -> StressModel:
    """A 38-input logistic model with the bundled sidecar's settings and ln(LF/HF)."""
    sidecar = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    sidecar["features"] = [
        {"name": n, "transform": "log" if n == "hrv_lf_hf_ratio" else None} for n in FEATURE_NAMES
    ]
    path = folder / "every_feature.tflite"
    write_mlp([(np.full((N, 1), 0.01), np.zeros(1))], path)
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return StressModel(path)


@pytest.fixture(scope="module")
def every_feature(tmp_path_factory: pytest.TempPathFactory) -> StressModel:
    return _every_feature_model(tmp_path_factory.mktemp("model"))


def test_the_every_feature_model_takes_every_feature_and_logs_lf_hf(
    every_feature: StressModel,
) -> None:
    assert every_feature.features == list(FEATURE_NAMES)
    assert every_feature.features[int(np.argmax(every_feature._log))] == "hrv_lf_hf_ratio"
    assert every_feature._log.sum() == 1


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_transform_equals_its_reference(every_feature: StressModel, data: st.DataObject) -> None:
    for model in (MODEL, every_feature):
        names = model.features
        values = data.draw(st.lists(VALUE, min_size=len(names), max_size=len(names)))
        present = data.draw(st.lists(st.booleans(), min_size=len(names), max_size=len(names)))
        features = {n: v for n, v, keep in zip(names, values, present, strict=True) if keep}
        kernel, reference = model.transform(features), model.transform_reference(features)
        np.testing.assert_array_equal(kernel, reference)


def _baseline(rows: list[list[float]], floors: list[float] | None = None) -> RunningBaseline:
    by_name = dict(zip(FEATURE_NAMES, floors, strict=True)) if floors is not None else None
    baseline = RunningBaseline(FEATURE_NAMES, clip=MODEL.clip, min_sd=MODEL.min_sd, floors=by_name)
    for row in rows:
        values = np.array(row)
        if baseline.usable(values):
            baseline.add(values)
    return baseline


ROW = st.lists(st.one_of(st.floats(-50, 50), st.just(math.nan)), min_size=N, max_size=N)


FLOORS = st.lists(st.one_of(st.just(0.0), st.floats(0.0, 100.0)), min_size=N, max_size=N)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(ROW, max_size=6),
    st.lists(VALUE, min_size=N, max_size=N),
    st.one_of(st.none(), FLOORS),
)
def test_z_scores_equal_their_reference(
    rows: list[list[float]], window: list[float], floors: list[float] | None
) -> None:
    assert N == 38
    baseline = _baseline(rows, floors)
    values = np.array(window)
    kernel, reference = baseline.z_scores(values), baseline.z_scores_reference(values)
    np.testing.assert_allclose(kernel, reference, rtol=1e-12, atol=0.0, equal_nan=True)


def test_the_neutral_features_are_gateway_features() -> None:
    assert set(FEATURE_NAMES) >= NEUTRAL_WHEN_UNDEFINED
    assert _baseline([])._neutral.sum() == len(NEUTRAL_WHEN_UNDEFINED)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUE, min_size=N, max_size=N))
def test_usable_equals_its_reference(window: list[float]) -> None:
    baseline = _baseline([])
    values = np.array(window)
    assert baseline.usable(values) == baseline.usable_reference(values)
    neutral_only = np.where(baseline._neutral, math.nan, 1.0)
    assert baseline.usable(neutral_only) and baseline.usable_reference(neutral_only)
