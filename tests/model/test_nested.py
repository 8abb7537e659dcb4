"""Nested LOSO: the held-out subject cannot steer any choice; ECE on known inputs; the
Stress-Predict segments agree with the data set's own stress labels."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from vagus.config import WindowSettings
from vagus.model.dataset import Dataset, scale_floors
from vagus.model.nested import (
    CALIBRATION_WINDOWS,
    SUBSETS,
    after_calibration,
    expected_calibration_error,
    final_fit,
    nested_loso,
    normalise_first,
    normalise_poisoned,
    report,
)

STRESS_PREDICT = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "stress" / "stress_predict"
)


def _synthetic(stress_of: dict[str, np.ndarray], seed: int = 0) -> Dataset:
    """Four subjects; scl_mean and hrv_mean_rr carry the label, everything else is noise."""
    names = sorted({name for subset in SUBSETS.values() for name in subset})
    rng = np.random.default_rng(seed)
    values, stress, subjects = [], [], []
    for subject, labels in stress_of.items():
        x = rng.normal(0, 1, (labels.size, len(names)))
        x[:, names.index("scl_mean")] += 2.0 * labels
        x[:, names.index("hrv_mean_rr")] -= 1.5 * labels
        values.append(x)
        stress.append(labels)
        subjects += [subject] * labels.size
    n = len(subjects)
    return Dataset(
        names,
        names,
        np.vstack(values),
        np.concatenate(stress).astype(np.int_),
        np.array(subjects),
        np.zeros(n, dtype=bool),
        np.ones(n, dtype=bool),
        "synthetic",
    )


def test_the_held_out_subjects_labels_cannot_change_its_own_choices() -> None:
    labels = np.array([0] * 12 + [1] * 8 + [0] * 10)
    subjects = {f"S{i}": labels for i in range(4)}
    data = _synthetic(subjects)
    held_out = data.subjects == "S0"
    flipped = dataclasses.replace(data, stress=np.where(held_out, 1 - data.stress, data.stress))
    first = nested_loso(data, normalise_first(data))
    second = nested_loso(flipped, normalise_first(flipped))
    assert first["choices"]["S0"] == second["choices"]["S0"]
    assert first["per_subject"]["S0"]["accuracy"] >= 0.7  # the signal is learnt ...
    accuracy = first["per_subject"]["S0"]["accuracy"]
    assert second["per_subject"]["S0"]["accuracy"] == pytest.approx(
        1 - accuracy
    )  # ... and scored against the truth


def test_expected_calibration_error_on_known_bins() -> None:
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.05, 0.05, 0.95, 0.95])) == pytest.approx(0.05)
    # all four at 0.5 in one bin, observed rate 0.5: perfectly calibrated
    assert expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.0)


@pytest.mark.shared_data
def test_tags_segments_agree_with_the_data_sets_stress_label() -> None:
    from vagus.model.cross_dataset import WINDOW_S, read_e4, subject_windows

    combined = STRESS_PREDICT / "Improved_All_Combined_hr_rsp_binary.csv"
    if not combined.is_file():
        pytest.skip(f"Stress-Predict not present at {STRESS_PREDICT} (../shared/data is absent)")
    with combined.open() as file:
        label_at = {
            int(float(row["Time(sec)"])): int(float(row["Label"]))
            for row in csv.DictReader(file)
            if row["Participant"] == "2"
        }
    windows = subject_windows(STRESS_PREDICT / "S02", "S02")
    start = read_e4(STRESS_PREDICT / "S02" / "EDA.csv").start_s
    agree = total = 0
    for k, label in enumerate(windows["labels"]):
        end = int(start + (k + 1) * WINDOW_S)
        theirs = [label_at[t] for t in range(end - 60, end) if t in label_at]
        if label < 0 or len(theirs) < 50:
            continue
        total += 1
        agree += label == round(float(np.mean(theirs)))
    assert total >= 40
    assert agree == total


def test_runtime_protocol_counts_only_windows_after_the_gateways_calibration() -> None:
    """The calibration windows are the gateway's default period in 60 s windows; the ones up to
    the last of them (an implausible one among them included) are not counted, as the gateway
    reports them as calibrating rather than scoring them."""
    assert WindowSettings().calibration_s == CALIBRATION_WINDOWS * 60.0
    labels = {s: np.array([0] * 8 + [1, 1, 0, 0]) for s in ("a", "b", "c", "d")}
    data = _synthetic(labels)
    plausible = data.plausible.copy()
    plausible[1] = False  # subject a's second window: skipped by its calibration
    data = dataclasses.replace(data, plausible=plausible)
    counted = after_calibration(data, 3)
    assert counted.reshape(4, 12)[0].tolist() == [False] * 4 + [True] * 8
    assert counted.reshape(4, 12)[1:].tolist() == [[False] * 3 + [True] * 9] * 3
    result = nested_loso(data, normalise_first(data, 3), counted=counted)
    assert {s: m["windows"] for s, m in result["per_subject"].items()} == {
        "a": 8,
        "b": 9,
        "c": 9,
        "d": 9,
    }


def test_report_hands_back_the_final_fit_its_figures_name() -> None:
    """What training exports is the runtime protocol's with-heart final fit, the same one the
    figures list, not a second fit that could differ."""
    labels = np.array([0] * 22 + [1] * 6 + [0] * 4)
    data = _synthetic({s: labels for s in ("a", "b", "c", "d")}, seed=5)
    result = report(data, normalise_first(data), None)
    shipped = result.shipped
    final = result.figures["final_with_heart"]
    assert (final["subset"], final["features"], final["C"], final["threshold"]) == (
        shipped.subset,
        list(shipped.features),
        shipped.strength,
        shipped.threshold,
    )
    again = final_fit(data, normalise_first(data, CALIBRATION_WINDOWS))
    assert again.features == shipped.features and again.platt == shipped.platt
    np.testing.assert_array_equal(again.weights, shipped.weights)
    assert "scl_mean" in shipped.features  # the signal the synthetic labels carry
    no_heart = result.no_heart
    assert list(no_heart.features) == result.figures["final_without_heart"]["features"]
    assert not any(name.startswith("hrv_") for name in no_heart.features)


def test_a_poisoned_calibration_holds_the_first_stress_windows_and_does_not_count_them() -> None:
    """The calibration is the first windows - k plausible windows plus the first k plausible
    stress windows; those stress windows are not scored, everything after the shortened rest
    part is; k = 0 is the runtime protocol itself."""
    labels = {s: np.array([0] * 6 + [1] * 4 + [0] * 6) for s in ("a", "b", "c", "d")}
    data = _synthetic(labels, seed=2)
    x, counted = normalise_poisoned(data, 2, windows=5)
    rows = np.flatnonzero(data.subjects == "a")
    reference = data.values[rows[[0, 1, 2, 6, 7]]]  # 3 rest windows, the first 2 stress windows
    mean = reference.mean(axis=0)
    sd = np.maximum(reference.std(axis=0, ddof=1), scale_floors(data))  # motion, SCR count
    np.testing.assert_allclose(x[rows], np.clip((data.values[rows] - mean) / sd, -8, 8))
    assert counted[rows].tolist() == [False] * 3 + [True] * 3 + [False] * 2 + [True] * 8
    clean, clean_counted = normalise_poisoned(data, 0, windows=5)
    np.testing.assert_array_equal(clean, normalise_first(data, 5))
    np.testing.assert_array_equal(clean_counted, after_calibration(data, 5))
    result = nested_loso(data, normalise_first(data, 5), counted=counted, scored=x)
    assert sum(m["windows"] for m in result["per_subject"].values()) == int(counted.sum())
