"""Cole-Kripke and Sadeh: hand-worked epochs and ActiLife's own per-minute scoring."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dsp.sleep import (
    ACTIGRAPH_AXIS1,
    cole_kripke,
    cole_kripke_index,
    minute_counts,
    sadeh,
    sadeh_index,
)

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
ACTILIFE = SHARED / "actigraphy" / "actilife"
needs_actilife = pytest.mark.skipif(
    not ACTILIFE.is_dir(), reason="../shared/data/actigraphy/actilife is not present"
)


def test_cole_kripke_weights_and_padding() -> None:
    counts = np.zeros(11)
    counts[5] = 10_000  # scaled to 100
    index = cole_kripke_index(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)
    # the epoch weighs 230; it is A+1 (74) and A+2 (67) for the two before, A-1..A-4 after
    expected = np.zeros(11)
    expected[3:10] = np.array([67, 74, 230, 76, 58, 54, 106]) * 0.1
    np.testing.assert_allclose(index, expected)
    assert cole_kripke_index([100_000.0], epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)[
        0
    ] == pytest.approx(0.23 * 300)  # capped at 300
    np.testing.assert_array_equal(
        cole_kripke([0, 0, 400, 0], epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1), [True] * 4
    )  # SI 0.92
    np.testing.assert_array_equal(
        cole_kripke([0, 0, 500, 0], epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1),
        [True, True, False, True],
    )


def test_sadeh_terms() -> None:
    still = sadeh_index(np.zeros(20), epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)
    np.testing.assert_allclose(still, 7.601)
    counts = np.zeros(20)
    counts[10] = 60  # one epoch in the 50-99 band: NATS = 1 for epochs 5..15
    score = sadeh_index(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)
    sd6 = np.std([0, 0, 0, 0, 0, 60], ddof=1)
    assert score[10] == pytest.approx(
        7.601 - 0.065 * 60 / 11 - 1.08 - 0.056 * sd6 - 0.703 * np.log(61)
    )
    assert score[4] == pytest.approx(7.601)
    assert sadeh_index([1000.0], epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)[0] == pytest.approx(
        sadeh_index([300.0], epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)[0]
    )  # capped at 300
    assert (
        not sadeh(np.full(30, 250.0), epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1).any()
        and sadeh(np.zeros(5), epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1).all()
    )


def test_invalid_counts() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        cole_kripke([1.0, -1.0], epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)
    with pytest.raises(ValueError, match="one-dimensional"):
        sadeh(np.zeros((2, 2)), epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)


def _actilife(name: str) -> tuple[np.ndarray, np.ndarray]:
    with (ACTILIFE / name).open(newline="") as f:
        rows = list(csv.DictReader(f))
    counts = np.array([float(r["Axis1"]) for r in rows])
    return counts, np.array([r["Sleep or Awake?"] == "S" for r in rows])


@pytest.mark.shared_data
@needs_actilife
def test_cole_kripke_agrees_with_actilife() -> None:
    counts, asleep = _actilife("GT3XPlus-RawData-Day01-ColeKripke.csv")
    agreement = float(
        np.mean(cole_kripke(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1) == asleep)
    )
    print(f"Cole-Kripke vs ActiLife: {agreement:.4f} of {counts.size} minutes")
    assert counts.size == 1500 and 0.1 < asleep.mean() < 0.9
    assert agreement >= 0.99


@pytest.mark.shared_data
@needs_actilife
def test_sadeh_agrees_with_actilife() -> None:
    counts, asleep = _actilife("GT3XPlus-RawData-Day01-Sadeh.csv")
    agreement = float(np.mean(sadeh(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1) == asleep))
    print(f"Sadeh vs ActiLife: {agreement:.4f} of {counts.size} minutes")
    assert agreement >= 0.99


def _ten_second_axis1() -> np.ndarray:
    with (ACTILIFE / "GT3XPlus-RawData-Day01.csv").open(newline="") as f:
        return np.array([float(r["axis1"]) for r in csv.DictReader(f)])


@pytest.mark.shared_data
@needs_actilife
def test_ten_second_epochs_are_summed_into_actilifes_minutes() -> None:
    ten_s = _ten_second_axis1()
    with (ACTILIFE / "GT3XPlus-RawData-Day01-10sec60sec.csv").open(newline="") as f:
        actilife_minutes = np.array([float(r["axis1"]) for r in csv.DictReader(f)])
    assert ten_s.size == 8999  # 1499 minutes and 5 epochs: ActiLife sums the last part-minute
    with pytest.raises(ValueError, match="leave 5 outside a whole minute"):
        minute_counts(ten_s, epoch_s=10.0, count_scale=ACTIGRAPH_AXIS1)
    minutes = minute_counts(
        ten_s, epoch_s=10.0, count_scale=ACTIGRAPH_AXIS1, incomplete_last_minute="sum"
    )
    np.testing.assert_array_equal(minutes, actilife_minutes)
    _, asleep = _actilife("GT3XPlus-RawData-Day01-ColeKripke.csv")
    whole = ten_s[: 1499 * 6]
    scored = cole_kripke(whole, epoch_s=10.0, count_scale=ACTIGRAPH_AXIS1)
    assert scored.size == 1499 and float(np.mean(scored == asleep[:1499])) >= 0.99


def test_epochs_and_scales_the_scorers_were_not_fitted_on_are_refused() -> None:
    with pytest.raises(ValueError, match="epochs of 45 s cannot be scored"):
        cole_kripke(np.zeros(8), epoch_s=45.0, count_scale=ACTIGRAPH_AXIS1)
    with pytest.raises(ValueError, match="epochs of 120 s cannot be scored"):
        sadeh(np.zeros(8), epoch_s=120.0, count_scale=ACTIGRAPH_AXIS1)
    with pytest.raises(ValueError, match="leave 2 outside a whole minute"):
        sadeh(np.zeros(8), epoch_s=10.0, count_scale=ACTIGRAPH_AXIS1)
    with pytest.raises(ValueError, match="not actiwatch"):
        cole_kripke(np.zeros(6), epoch_s=60.0, count_scale="actiwatch")
    np.testing.assert_array_equal(
        minute_counts(np.arange(12.0), epoch_s=30.0, count_scale=ACTIGRAPH_AXIS1),
        np.arange(12.0).reshape(6, 2).sum(axis=1),
    )
