"""acc_window (one kernel) equals activity_summary + acc_features (its reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.streaming.acc import acc_window, acc_window_reference


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 100_000),
    st.integers(1, 400),
    st.sampled_from([12.5, 25.0, 32.0, 50.0]),
    st.floats(10.0, 600.0),
)
def test_kernel_equals_reference(seed: int, n: int, fs: float, spread_mg: float) -> None:
    rng = np.random.default_rng(seed)
    acc = rng.normal(0, spread_mg, (n, 3)) + np.array([0.0, 0.0, 1000.0])
    (readable, model), (readable_ref, model_ref) = (
        acc_window(acc, fs),
        acc_window_reference(acc, fs),
    )
    assert readable.keys() == readable_ref.keys()
    for key, value in readable_ref.items():
        assert value is not None
        assert readable[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert model.keys() == model_ref.keys()
    for key, ref in model_ref.items():
        both_nan = math.isnan(ref) and math.isnan(model[key])
        assert both_nan or model[key] == pytest.approx(ref, rel=1e-9, abs=1e-12), key


def test_motion_is_counted_per_second() -> None:
    still = np.tile([0.0, 0.0, 1000.0], (250, 1))
    still[:25] = [0.0, 0.0, 1500.0]  # one second of 0.5 g on top of gravity
    readable, _ = acc_window(still, 25.0)
    assert readable["motion_fraction"] == pytest.approx(0.1)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        acc_window(np.zeros((10, 2)), 25.0)
