"""The running per-patient baseline: Welford against numpy, training's z-scores, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.stress import FEATURE_NAMES, SCALE_FLOORS, BaselineMismatchError, RunningBaseline
from dsp.stress.baseline import ESTIMATORS, Estimator

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "stress"
CSV = DATA / "wesad_wrist_features_60s.csv"
NAMES = ("a", "b", "scr_recovery_time_mean")


def _baseline(
    names: tuple[str, ...] = NAMES, floors: dict[str, float] | None = None
) -> RunningBaseline:
    return RunningBaseline(names, clip=8.0, min_sd=1e-9, floors=floors)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(*(st.floats(-1e3, 1e3) for _ in range(3))), min_size=2, max_size=40))
def test_welford_equals_numpy_mean_and_sample_sd(rows: list[tuple[float, float, float]]) -> None:
    x = np.array(rows)
    baseline = _baseline()
    for row in x:
        baseline.add(row)
    np.testing.assert_allclose(baseline.mean, x.mean(axis=0), rtol=1e-9, atol=1e-9)
    sd = x.std(axis=0, ddof=1)
    expected = np.where(sd > 1e-9, sd, 1.0)
    np.testing.assert_allclose(baseline.sd(), expected, rtol=1e-6, atol=1e-6)


def test_z_scores_clip_and_neutral_features() -> None:
    baseline = _baseline()
    for row in ([0.0, 10.0, np.nan], [2.0, 10.0, np.nan], [4.0, 10.0, np.nan]):
        baseline.add(np.array(row))
    z = baseline.z_scores(np.array([100.0, 10.0, 3.0]))
    assert z[0] == 8.0  # (100 - 2) / 2 = 49, clipped
    assert z[1] == 0.0  # constant in calibration: SD 1, as in training
    assert z[2] == 0.0  # never defined during calibration: neutral throughout
    with pytest.raises(ValueError, match="non-neutral"):
        baseline.add(np.array([1.0, np.nan, 1.0]))


def test_a_frozen_baseline_refuses_updates_and_survives_json(tmp_path: Path) -> None:
    baseline = _baseline()
    baseline.add(np.array([1.0, 2.0, 3.0]))
    baseline.add(np.array([2.0, 4.0, np.nan]))
    baseline.frozen = True
    with pytest.raises(ValueError, match="frozen"):
        baseline.add(np.array([1.0, 1.0, 1.0]))
    path = tmp_path / "state.json"
    path.write_text(json.dumps(baseline.to_json()))
    restored = RunningBaseline.from_json(json.loads(path.read_text()), NAMES)
    probe = np.array([5.0, -1.0, 2.0])
    np.testing.assert_array_equal(restored.z_scores(probe), baseline.z_scores(probe))
    assert restored.frozen and restored.windows == 2
    with pytest.raises(BaselineMismatchError, match="no statistics for x, y"):
        RunningBaseline.from_json(baseline.to_json(), ("x", NAMES[1], "y"))
    # a model with fewer inputs restores just those, each with its own statistics
    fewer = (NAMES[2], NAMES[0])
    subset = RunningBaseline.from_json(baseline.to_json(), fewer)
    np.testing.assert_array_equal(subset.z_scores(probe[[2, 0]]), baseline.z_scores(probe)[[2, 0]])
    assert subset.frozen and subset.windows == 2
    broken = baseline.to_json() | {"mean": [1.0, float("nan"), 0.0]}
    with pytest.raises(ValueError, match="malformed"):
        RunningBaseline.from_json(broken, NAMES)


@pytest.mark.shared_data
def test_running_baseline_reproduces_training_normalisation() -> None:
    """Per subject, Welford over the calibration windows gives train.normalise's z exactly (the
    comparison's normalisation: no floors; tests/model/test_stress_model.py holds the runtime
    protocol's, floors included)."""
    if not CSV.is_file():
        pytest.skip(f"WESAD features not present at {CSV} (../shared/data is not in a clone)")
    from vagus.model.dataset import load, normalise

    data = load(CSV)
    assert tuple(data.features) == FEATURE_NAMES
    expected = normalise(data)
    for subject in np.unique(data.subjects):
        rows = np.flatnonzero(data.subjects == subject)
        baseline = _baseline(FEATURE_NAMES)
        for i in rows:
            if data.calibration[i] and data.plausible[i]:
                baseline.add(data.values[i])
        got = np.array([baseline.z_scores(data.values[i]) for i in rows])
        np.testing.assert_allclose(got, expected[rows], atol=1e-9)


def test_median_mad_baseline_is_the_training_normalisation_and_survives_json() -> None:
    """The median/MAD estimator gives nested.baseline_z(robust=True) on the same windows, also
    after a restart in the middle of the calibration."""
    from vagus.model.nested import baseline_z

    rng = np.random.default_rng(7)
    rows = rng.normal(0, 1, (20, 3)) * [1.0, 5.0, 0.2]
    rows[:5, 0] += 6.0  # a stressor in a quarter of the calibration
    baseline = RunningBaseline(("a", "b", "c"), clip=8.0, min_sd=1e-6, estimator="median_mad")
    for row in rows[:12]:
        baseline.add(row)
    resumed = RunningBaseline.from_json(baseline.to_json(), ("a", "b", "c"), "median_mad")
    for row in rows[12:]:
        baseline.add(row)
        resumed.add(row)
    probe = rng.normal(0, 3, (50, 3))
    expected = baseline_z(probe, rows, robust=True)
    for b in (baseline, resumed):
        got = np.array([b.z_scores(p) for p in probe])
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    plain = RunningBaseline(("a", "b", "c"), clip=8.0, min_sd=1e-6)
    for row in rows:
        plain.add(row)
    assert plain.sd()[0] > 1.5 * baseline.sd()[0]  # the stressor widens the SD, not the MAD
    with pytest.raises(BaselineMismatchError, match="made with median_mad"):
        RunningBaseline.from_json(baseline.to_json(), ("a", "b", "c"))
    with pytest.raises(ValueError, match="unknown baseline estimator"):
        RunningBaseline(("a",), clip=8.0, min_sd=0.0, estimator="mean")  # type: ignore[arg-type]


STILL = st.floats(0.0, 0.05)  # a calibration stiller than the accelerometer resolves


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(STILL, STILL), min_size=2, max_size=30),
    st.floats(0.0, 50.0),
    st.sampled_from(ESTIMATORS),
)
def test_a_still_calibration_cannot_make_a_small_change_extreme(
    calibration: list[tuple[float, float]], later: float, estimator: Estimator
) -> None:
    """However still the calibration, a later window's z is at most its distance from the
    centre in units of the floor (motion SD in 1/64 g, SCR count in responses); without the
    floor a fidget of one unit after a motionless calibration is clipped at the maximum."""
    names = ("acc_magnitude_std", "scr_peak_count")
    floored = RunningBaseline(
        names,
        clip=8.0,
        min_sd=1e-9,
        estimator=estimator,
        floors=SCALE_FLOORS,
    )
    plain = RunningBaseline(names, clip=8.0, min_sd=1e-9, estimator=estimator)
    for row in calibration:
        floored.add(np.array(row))
        plain.add(np.array(row))
    probe = np.array([later, later])
    z = floored.z_scores(probe)
    bound = np.abs(probe - floored.mean) / np.array([SCALE_FLOORS[n] for n in names])
    assert np.all(np.abs(z) <= np.minimum(bound, 8.0) + 1e-12)
    assert np.all(np.abs(z) <= np.abs(plain.z_scores(probe)) + 1e-12)  # a floor only shrinks z
    np.testing.assert_array_equal(z, floored.z_scores_reference(probe))
    resumed = RunningBaseline.from_json(
        floored.to_json(),
        names,
        estimator,
        floors=SCALE_FLOORS,
    )
    np.testing.assert_array_equal(resumed.z_scores(probe), z)


def test_one_unit_of_fidget_after_a_motionless_calibration() -> None:
    """The case the floors are for: a calibration with the accelerometer's noise only (SDs
    0.38-0.40 units), then one unit more: z 1.6, not the clip's 8."""
    names = ("acc_magnitude_std",)
    floored = RunningBaseline(names, clip=8.0, min_sd=1e-9, floors=SCALE_FLOORS)
    plain = RunningBaseline(names, clip=8.0, min_sd=1e-9)
    for k in range(20):
        floored.add(np.array([0.38 + 0.001 * k]))
        plain.add(np.array([0.38 + 0.001 * k]))
    probe = np.array([floored.mean[0] + 1.6])
    assert plain.z_scores(probe)[0] == 8.0
    assert floored.z_scores(probe)[0] == pytest.approx(1.6)
    with pytest.raises(ValueError, match="floors must be >= 0"):
        RunningBaseline(names, clip=8.0, min_sd=1e-9, floors={"acc_magnitude_std": -1.0})
