"""Cole-Kripke and Sadeh: hand-worked epochs and ActiLife's own per-minute scoring."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dsp.sleep import cole_kripke, cole_kripke_index, sadeh, sadeh_index

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
ACTILIFE = SHARED / "actigraphy" / "actilife"
needs_actilife = pytest.mark.skipif(
    not ACTILIFE.is_dir(), reason="../shared/data/actigraphy/actilife is not present"
)


def test_cole_kripke_weights_and_padding() -> None:
    counts = np.zeros(11)
    counts[5] = 10_000  # scaled to 100
    index = cole_kripke_index(counts)
    # the epoch weighs 230; it is A+1 (74) and A+2 (67) for the two before, A-1..A-4 after
    expected = np.zeros(11)
    expected[3:10] = np.array([67, 74, 230, 76, 58, 54, 106]) * 0.1
    np.testing.assert_allclose(index, expected)
    assert cole_kripke_index([100_000.0])[0] == pytest.approx(0.23 * 300)  # capped at 300
    np.testing.assert_array_equal(cole_kripke([0, 0, 400, 0]), [True] * 4)  # SI 0.92
    np.testing.assert_array_equal(cole_kripke([0, 0, 500, 0]), [True, True, False, True])


def test_sadeh_terms() -> None:
    still = sadeh_index(np.zeros(20))
    np.testing.assert_allclose(still, 7.601)
    counts = np.zeros(20)
    counts[10] = 60  # one epoch in the 50-99 band: NATS = 1 for epochs 5..15
    score = sadeh_index(counts)
    sd6 = np.std([0, 0, 0, 0, 0, 60], ddof=1)
    assert score[10] == pytest.approx(
        7.601 - 0.065 * 60 / 11 - 1.08 - 0.056 * sd6 - 0.703 * np.log(61)
    )
    assert score[4] == pytest.approx(7.601)
    assert sadeh_index([1000.0])[0] == pytest.approx(sadeh_index([300.0])[0])  # capped at 300
    assert not sadeh(np.full(30, 250.0)).any() and sadeh(np.zeros(5)).all()


def test_invalid_counts() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        cole_kripke([1.0, -1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        sadeh(np.zeros((2, 2)))


def _actilife(name: str) -> tuple[np.ndarray, np.ndarray]:
    with (ACTILIFE / name).open(newline="") as f:
        rows = list(csv.DictReader(f))
    counts = np.array([float(r["Axis1"]) for r in rows])
    return counts, np.array([r["Sleep or Awake?"] == "S" for r in rows])


@pytest.mark.shared_data
@needs_actilife
def test_cole_kripke_agrees_with_actilife() -> None:
    counts, asleep = _actilife("GT3XPlus-RawData-Day01-ColeKripke.csv")
    agreement = float(np.mean(cole_kripke(counts) == asleep))
    print(f"Cole-Kripke vs ActiLife: {agreement:.4f} of {counts.size} minutes")
    assert counts.size == 1500 and 0.1 < asleep.mean() < 0.9
    assert agreement >= 0.99


@pytest.mark.shared_data
@needs_actilife
def test_sadeh_agrees_with_actilife() -> None:
    counts, asleep = _actilife("GT3XPlus-RawData-Day01-Sadeh.csv")
    agreement = float(np.mean(sadeh(counts) == asleep))
    print(f"Sadeh vs ActiLife: {agreement:.4f} of {counts.size} minutes")
    assert agreement >= 0.99
