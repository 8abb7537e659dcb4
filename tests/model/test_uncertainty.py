"""The subject-level bootstrap behind the nested figures' 95 % intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score

from vagus.model.nested import ECE_BINS, expected_calibration_error
from vagus.model.uncertainty import subject_bootstrap


def _windows(seed: int, subjects: int, per_subject: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = subjects * per_subject
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + 0.7 * rng.random(n), 0.0, 1.0)  # right about 70 % of the time
    return y, p >= 0.5, p, np.repeat([f"S{k}" for k in range(subjects)], per_subject)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), windows=st.integers(1, 40))
def test_one_subject_makes_every_draw_the_point_figures(seed: int, windows: int) -> None:
    """Each draw of one subject is that subject once, so the interval collapses onto the pooled
    figures, which must then be sklearn's and nested's own."""
    y, predicted, p, subjects = _windows(seed, 1, windows)
    ci = subject_bootstrap(y, predicted, p, subjects, ECE_BINS, resamples=50)
    expected = {
        "accuracy": accuracy_score(y, predicted),
        "macro_f1": f1_score(y, predicted, average="macro"),
        "ece": expected_calibration_error(y, p),
    }
    for name, value in expected.items():
        assert ci[name] == pytest.approx([value, value], abs=1e-12), name


def test_the_interval_spans_the_subjects_and_holds_the_pooled_figure() -> None:
    y, predicted, p, subjects = _windows(3, 12, 30)
    # make the subjects differ: half of them get their predictions flipped on a third of windows
    for k in range(0, 12, 2):
        rows = np.flatnonzero(subjects == f"S{k}")[:10]
        predicted[rows] = ~predicted[rows]
    ci = subject_bootstrap(y, predicted, p, subjects, ECE_BINS)
    masks = [subjects == s for s in set(subjects)]
    per_subject = [accuracy_score(y[m], predicted[m]) for m in masks]
    low, high = ci["accuracy"]
    assert min(per_subject) <= low < accuracy_score(y, predicted) < high <= max(per_subject)
    assert ci["macro_f1"][0] < f1_score(y, predicted, average="macro") < ci["macro_f1"][1]
    assert "12 subjects" in ci["method"]


def test_the_same_seed_gives_the_same_interval_and_another_seed_may_not() -> None:
    y, predicted, p, subjects = _windows(5, 12, 20)
    first = subject_bootstrap(y, predicted, p, subjects, ECE_BINS)
    assert subject_bootstrap(y, predicted, p, subjects, ECE_BINS) == first
    other = subject_bootstrap(y, predicted, p, subjects, ECE_BINS, seed=99)
    assert other["accuracy"] != first["accuracy"]


def test_a_class_no_draw_holds_is_left_out_of_macro_f1_as_sklearn_does() -> None:
    y = np.zeros(20, dtype=int)
    predicted = np.zeros(20, dtype=bool)
    predicted[:3] = True
    p = np.where(predicted, 0.7, 0.2)
    ci = subject_bootstrap(y, predicted, p, np.repeat(["a"], 20), ECE_BINS, resamples=10)
    assert ci["macro_f1"][0] == pytest.approx(f1_score(y, predicted, average="macro"))
