"""heart_features (one kernel call) equals heart_features_reference (the numpy glue)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.streaming.rr import heart_features, heart_features_reference

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _beats(
    seed: int, n: int, n_gaps: int, picks: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rr = 780.0 + 50.0 * np.sin(np.arange(n) / 3.0) + rng.normal(0, 12, n)
    picks = picks if picks is not None else tuple(rng.integers(0, n, 2))
    rr[picks[0]] *= 2.0  # a missed beat
    rr[picks[1]] *= 0.6
    beats = T0 + (np.cumsum(rr) * 1e6).astype(np.int64)
    real = np.ones(n - 1, dtype=np.bool_)
    real[rng.integers(0, n - 1, n_gaps)] = False
    return beats, real


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0)
    return a == b


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 300), st.integers(0, 3), st.floats(0.0, 1.0))
def test_kernel_equals_reference(seed: int, n: int, n_gaps: int, where: float) -> None:
    beats, real = _beats(seed, max(n, 2), n_gaps)
    end = int(beats[-1]) + NS
    start = end - 60 * NS - int(where * 30 * NS)
    ours = heart_features(beats, real, fs=130.0, start=start, end=end)
    theirs = heart_features_reference(beats, real, fs=130.0, start=start, end=end)
    assert ours[0].keys() == theirs[0].keys()
    assert all(_same(ours[0][k], theirs[0][k]) for k in ours[0]), (ours[0], theirs[0])
    assert ours[1].keys() == theirs[1].keys()
    assert all(_same(ours[1][k], theirs[1][k]) for k in ours[1]), (ours[1], theirs[1])
    assert _same(ours[2], theirs[2])


def test_a_full_window_has_all_13_features() -> None:
    beats, real = _beats(3, 240, 0, picks=(200, 220))  # both inside the last 60 s
    end = int(beats[-1]) + NS
    readable, model, gate = heart_features(beats, real, fs=130.0, start=end - 60 * NS, end=end)
    assert len(model) == 13
    assert all(math.isfinite(v) for v in model.values())
    assert gate is not None and 0 < gate < 0.1  # the two planted artefacts, judged
    assert readable["beats"] == np.count_nonzero(beats >= end - 60 * NS)
