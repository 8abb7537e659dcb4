"""Our SCRs against the consensus of several EDA tools on the shared E4 sessions.

Reads ../shared/data (skips without it) and needs the `validation` extra's tools.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
DATA = ROOT / ".." / "shared" / "data"
sys.path.insert(0, str(ROOT / "bench"))  # bench/ is scripts, not a package: import as they do
from validation.eda_consensus import scr_consensus  # noqa: E402

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "stress" / "stress_predict").is_dir(),
                       reason="../shared/data/stress/stress_predict is not present"),
]  # fmt: skip

#: at most one false response per 10 min of calm, flat signal: far below the 1-3 per minute of
#: non-specific SCRs at rest, so it cannot distort the SCR rate a reader sees.
FLAT_FP_PER_MIN_MAX = 0.1
TARGET_F1 = 0.85  # issue 15's target for the pooled F1 against the consensus


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    found = scr_consensus(DATA)
    if found is None:
        pytest.skip("fewer than three SCR tools installed (pip install -e .[validation])")
    return found


def test_flat_stretches_stay_nearly_free_of_false_responses(result: dict[str, Any]) -> None:
    pooled = result["pooled"]["response"]
    assert pooled["flat_min"] > 60  # the rate is measured over more than an hour of flat signal
    assert pooled["fp_flat_per_min"] < FLAT_FP_PER_MIN_MAX


def test_rules_do_not_add_false_responses_where_nothing_happens(result: dict[str, Any]) -> None:
    new, old = result["pooled"]["response"], result["pooled"]["slope"]
    assert new["fp_flat"] <= old["fp_flat"]
    assert new["fp_noisy"] <= old["fp_noisy"]


def test_rules_agree_better_with_the_consensus_than_the_plain_detector(
    result: dict[str, Any],
) -> None:
    new, old = result["pooled"]["response"], result["pooled"]["slope"]
    assert new["consensus"].f1 > old["consensus"].f1
    # no tool alone reached 0.81 against the consensus when this was set up (docs/validation.md)
    assert new["consensus"].f1 >= 0.8


@pytest.mark.xfail(
    reason="issue 15's target is not reached: pooled F1 0.846 measured on 2026-12-04", strict=True
)
def test_pooled_f1_against_the_consensus_reaches_the_target(result: dict[str, Any]) -> None:
    assert result["pooled"]["response"]["consensus"].f1 >= TARGET_F1


def test_the_tools_false_rates_are_counted_where_the_consensus_has_nothing(
    result: dict[str, Any],
) -> None:
    """Each tool's peaks in flat and noisy pieces, pooled, add up from the sessions, and a
    tool's count there never exceeds its unmatched peaks against the consensus."""
    for tool, (flat, noisy) in result["tool_fp"].items():
        sessions = [s["tool_fp"][tool] for s in result["sessions"].values()]
        assert (flat, noisy) == (sum(f for f, _ in sessions), sum(n for _, n in sessions))
        assert flat + noisy <= result["tool_vs_consensus"][tool].fp
