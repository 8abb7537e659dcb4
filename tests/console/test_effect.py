"""The effectiveness interval against scipy's Student's t (an independent implementation)."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats

from console.effect import effect, t_975


@pytest.mark.parametrize("df", range(1, 31))
def test_the_t_table_matches_scipy(df: int) -> None:
    # the table has three decimals: half a unit of the last one
    assert t_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=5e-4)


@pytest.mark.parametrize("df", [31, 40, 60, 120, 1000])
def test_beyond_the_table_the_expansion_matches_scipy(df: int) -> None:
    assert t_975(df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-4)


def test_the_interval_is_scipys_t_interval() -> None:
    changes = [-9.4, -3.1, -6.0, 1.2, -4.4]
    found = effect("paced_breathing", "RMSSD ms", changes)
    assert found is not None and found.low is not None and found.high is not None
    low, high = stats.t.interval(
        0.95, len(changes) - 1, loc=statistics.fmean(changes), scale=stats.sem(changes)
    )
    assert found.n == 5
    assert found.mean == pytest.approx(statistics.fmean(changes))
    # the table's t is exact to half a unit of its third decimal; times the standard error
    tolerance = 5e-4 * stats.sem(changes)
    assert found.low == pytest.approx(low, abs=tolerance)
    assert found.high == pytest.approx(high, abs=tolerance)


def test_one_session_has_no_interval_and_none_has_no_effect() -> None:
    single = effect("vibroacoustic", "stress", [-0.3])
    assert single is not None and (single.n, single.low, single.high) == (1, None, None)
    assert effect("vibroacoustic", "stress", []) is None
    assert effect("vibroacoustic", "stress", [math.nan]) is None
