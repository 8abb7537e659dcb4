"""Kleckner et al.'s EDA plausibility rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dsp.eda.quality import dilate, implausible_eda_mask

E4 = Path(__file__).parents[2] / ".." / "shared" / "data" / "eda" / "e4_flirt"


@settings(max_examples=300, deadline=None)
@given(arrays(np.bool_, st.integers(0, 60)), st.integers(0, 10))
def test_dilate_matches_a_plain_loop(mask: np.ndarray, radius: int) -> None:
    expected = np.array(
        [mask[max(0, i - radius) : i + radius + 1].any() for i in range(mask.size)], dtype=bool
    )
    np.testing.assert_array_equal(dilate(mask, radius), expected)


def test_rules() -> None:
    fs = 4.0
    eda = np.full(400, 2.0)  # 100 s at a plausible 2 uS
    assert not implausible_eda_mask(eda, fs).any()
    low = eda.copy()
    low[200] = 0.01  # one sample of lost contact: +-5 s flagged
    np.testing.assert_array_equal(
        np.flatnonzero(implausible_eda_mask(low, fs)), np.arange(180, 221)
    )
    jump = eda.copy()
    jump[300:] = 5.0  # +3 uS in 0.25 s = 12 uS/s
    flagged = np.flatnonzero(implausible_eda_mask(jump, fs))
    np.testing.assert_array_equal(flagged, np.arange(279, 321))
    assert not implausible_eda_mask(jump, fs, max_slope_us_per_s=15.0).any()
    high, missing = eda.copy(), eda.copy()
    high[10], missing[390] = 70.0, np.nan
    assert implausible_eda_mask(high, fs)[:31].all()
    assert implausible_eda_mask(missing, fs)[370:].all()
    assert implausible_eda_mask(np.zeros(0), fs).size == 0
    with pytest.raises(ValueError, match="positive"):
        implausible_eda_mask(eda, 0.0)
    with pytest.raises(ValueError, match="min_us"):
        implausible_eda_mask(eda, fs, min_us=70.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        implausible_eda_mask(np.ones((2, 2)), fs)


@pytest.mark.shared_data
@pytest.mark.skipif(not E4.is_dir(), reason="../shared/data/eda/e4_flirt is not present")
def test_e4_session_flags_its_dropouts_only() -> None:
    """The validation session is low (mostly 0.05-0.11 uS) but in range, with brief dropouts
    towards 0 uS (the first samples are 0.0): those and their 5 s surroundings are flagged."""
    raw = np.loadtxt(E4 / "EDA.csv")
    fs, eda = float(raw[1]), raw[2:]
    mask = implausible_eda_mask(eda, fs)
    dropouts = eda < 0.05
    share = float(mask.mean())
    print(f"E4 session: {100 * share:.1f} % flagged, {100 * dropouts.mean():.2f} % below 0.05 uS")
    assert mask[dropouts].all()
    assert mask[: round(5 * fs)].all()
    assert share < 0.1  # 99 % of its samples are above 0.052 uS: the rules must pass them
