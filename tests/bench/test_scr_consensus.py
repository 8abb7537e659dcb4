"""The SCR matcher and consensus (bench/validation/scr_consensus.py) on peaks written by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "bench"))  # bench/ is scripts, not a package: import as they do
from validation.common import wilson_interval  # noqa: E402
from validation.eda_consensus import BLOCK_S, Session, block_counts, f1_interval  # noqa: E402
from validation.scr_consensus import Match, consensus, match, matched_pairs  # noqa: E402
from validation.scr_report import _noisy_sentence  # noqa: E402


def _a(*v: int) -> np.ndarray:
    return np.asarray(v, dtype=np.int64)


def test_match_is_one_to_one_within_the_tolerance() -> None:
    m = match(_a(10, 11, 50), _a(10, 40), tol=8)
    assert m == Match(tp=1, fp=2, fn=1)  # 11 cannot reuse 10; 50 is 10 away from 40
    assert m.precision == pytest.approx(1 / 3)
    assert m.recall == pytest.approx(1 / 2)
    assert m.f1 == pytest.approx(2 * 1 / (2 * 1 + 2 + 1))


def test_closest_pairs_are_taken_first() -> None:
    # greedy in our order would pair 10-14 and leave 13 unmatched; closest-first pairs 13-14
    # and then 10-7, so both match
    assert sorted(matched_pairs(_a(10, 13), _a(7, 14), tol=4)) == [(0, 0), (1, 1)]


def test_edges_of_the_tolerance_and_empty_lists() -> None:
    assert match(_a(0), _a(8), tol=8).tp == 1
    assert match(_a(0), _a(9), tol=8).tp == 0
    assert match(_a(), _a(), tol=8).f1 == 1.0
    assert match(_a(), _a(5), tol=8) == Match(0, 0, 1)
    assert match(_a(5), _a(), tol=8).f1 == 0.0


def test_pooling_adds_counts_not_scores() -> None:
    total = Match(9, 1, 0) + Match(0, 0, 10)
    assert total == Match(9, 1, 10)
    assert total.f1 == pytest.approx(18 / 29)


def test_consensus_needs_a_strict_majority() -> None:
    tools = [_a(100, 300), _a(102, 500), _a(99, 301), _a(700)]
    # 100: three of four tools; 300: only two (not more than half); 500, 700: one each
    np.testing.assert_array_equal(consensus(tools, tol=8), _a(100))
    np.testing.assert_array_equal(consensus(tools[:3], tol=8), _a(100, 300))  # 2 of 3


def test_consensus_counts_a_tool_once_and_merges_close_groups() -> None:
    # tool 0 marks one response three times: still one vote, one response, placed at the
    # median of the group (tool 0's earliest peak opened it, tool 1 joined at 104)
    tools = [_a(100, 103, 106), _a(104), _a(200)]
    np.testing.assert_array_equal(consensus(tools, tol=8), _a(102))
    # two majority groups 6 samples apart are one response at the tolerance's resolution
    tools = [_a(100, 106), _a(101, 107), _a(300)]
    assert consensus(tools, tol=8).size == 1


def test_consensus_of_no_tools_is_empty() -> None:
    assert consensus([], tol=8).size == 0


def test_the_report_says_from_the_figures_whether_a_noisy_stretch_raises_the_rates() -> None:
    """Flat 100 min and noisy 10 min: ours 1 and 0 peaks (does not grow), tool a 10 and 5
    (0.1 to 0.5 a minute: grows), tool b 20 and 1 (0.2 to 0.1: does not)."""
    ours = {"flat_min": 100.0, "noisy_min": 10.0, "fp_flat_per_min": 0.01, "fp_noisy_per_min": 0.0}
    text = " ".join(_noisy_sentence({"tool_fp": {"a": (10, 5), "b": (20, 1)}}, ours).split())
    assert "does not grow from flat to noisy stretches (0.010 to 0.000" in text
    assert "should not is met" in text
    assert "1 of the 2 tools' rates grow there too (a)." in text
    ours |= {"fp_noisy_per_min": 0.3}
    text = " ".join(_noisy_sentence({"tool_fp": {"a": (10, 5)}}, ours).split())
    assert "grows from flat" in text and "is not met" in text and "every method here" in text


def test_block_counts_add_up_to_the_matching_and_sit_where_the_peaks_are() -> None:
    fs = 4.0
    step = round(BLOCK_S * fs)
    n = 3 * step
    session = Session("s", fs, np.zeros(n), np.ones(n, bool), np.zeros(n, bool))
    ours = _a(10, step + 5, 2 * step + 100)  # a match, a false peak in block 1, a match
    cons = _a(12, 2 * step + 98, 2 * step + 400)  # a match, a match, a miss in block 2
    blocks = block_counts(ours, cons, 8, session)
    assert sum(blocks, Match(0, 0, 0)) == match(ours, cons, 8)
    assert blocks[:3] == [Match(1, 0, 0), Match(0, 1, 0), Match(1, 0, 1)]


def test_the_f1_interval_holds_the_pooled_f1_and_narrows_with_more_blocks() -> None:
    mixed = [Match(4, 1, 0), Match(2, 0, 2), Match(5, 2, 1), Match(3, 0, 0)]
    pooled = sum(mixed, Match(0, 0, 0)).f1
    low, high = f1_interval(mixed)
    assert low < pooled < high
    many_low, many_high = f1_interval(mixed * 25)  # the same blocks, 25 times as many
    assert low < many_low < pooled < many_high < high
    assert f1_interval([Match(3, 0, 0)] * 5) == (1.0, 1.0)


def test_wilson_interval_stays_inside_zero_and_one_and_holds_the_share() -> None:
    low, high = wilson_interval(1883, 1883)
    assert 0.997 < low < 1.0 and high == 1.0  # all hits still leaves room below 100 %
    low, high = wilson_interval(2941, 2955)
    assert low < 2941 / 2955 < high
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # agrees with the textbook example: 81 of 263 -> 0.2553-0.3662 (Newcombe 1998, table I)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
