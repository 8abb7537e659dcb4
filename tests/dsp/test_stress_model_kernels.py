"""The stress model's input kernels equal their numpy twins, undefined values included."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.stress import StressModel
from dsp.stress.baseline import NEUTRAL_WHEN_UNDEFINED, RunningBaseline

MODEL = StressModel()
SPECIAL = st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf, 1e-300, 1e300])
VALUE = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), SPECIAL)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUE, min_size=len(MODEL.features), max_size=len(MODEL.features)), st.data())
def test_transform_equals_its_reference(values: list[float], data: st.DataObject) -> None:
    names = MODEL.features
    present = data.draw(st.lists(st.booleans(), min_size=len(names), max_size=len(names)))
    features = {n: v for n, v, keep in zip(names, values, present, strict=True) if keep}
    np.testing.assert_array_equal(MODEL.transform(features), MODEL.transform_reference(features))


def _baseline(rows: list[list[float]]) -> RunningBaseline:
    names = MODEL.features
    baseline = RunningBaseline(names, clip=MODEL.clip, min_sd=MODEL.min_sd)
    for row in rows:
        values = np.array(row)
        if baseline.usable(values):
            baseline.add(values)
    return baseline


ROW = st.lists(
    st.one_of(st.floats(-50, 50), st.just(math.nan)),
    min_size=len(MODEL.features),
    max_size=len(MODEL.features),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(ROW, max_size=6), st.lists(VALUE, min_size=38, max_size=38))
def test_z_scores_equal_their_reference(rows: list[list[float]], window: list[float]) -> None:
    assert len(MODEL.features) == 38
    baseline = _baseline(rows)
    values = np.array(window)
    kernel, reference = baseline.z_scores(values), baseline.z_scores_reference(values)
    np.testing.assert_allclose(kernel, reference, rtol=1e-12, atol=0.0, equal_nan=True)


def test_the_neutral_features_are_the_models() -> None:
    assert set(MODEL.features) >= NEUTRAL_WHEN_UNDEFINED


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUE, min_size=38, max_size=38))
def test_usable_equals_its_reference(window: list[float]) -> None:
    baseline = _baseline([])
    values = np.array(window)
    assert baseline.usable(values) == baseline.usable_reference(values)
    neutral_only = np.where(baseline._neutral, math.nan, 1.0)
    assert baseline.usable(neutral_only) and baseline.usable_reference(neutral_only)
