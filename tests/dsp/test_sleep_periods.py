"""Tudor-Locke sleep periods: hand-built nights and ActiLife's own periods on the GT3X+ day."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.sleep import ACTIGRAPH_AXIS1, SleepPeriod, sadeh, tudor_locke_periods

ACTILIFE = Path(__file__).parents[2] / ".." / "shared" / "data" / "actigraphy" / "actilife"
needs_actilife = pytest.mark.skipif(
    not ACTILIFE.is_dir(), reason="../shared/data/actigraphy/actilife is not present"
)


def _states(spec: str) -> np.ndarray:
    """'W20 S30 W3' -> 20 wake, 30 sleep, 3 wake minutes."""
    parts = [(tok[0] == "S", int(tok[1:])) for tok in spec.split()]
    return np.concatenate([np.full(n, s, dtype=bool) for s, n in parts])


def test_short_runs_do_not_switch_state() -> None:
    # 4 sleep minutes are too few to go to bed; 9 wake minutes too few to get up
    night = _states("W20 S4 W2 S200 W9 S50 W1 S1 W30")
    counts = np.where(night, 0.0, 100.0)
    (period,) = tudor_locke_periods(night, counts)
    assert (period.in_bed_index, period.out_bed_index) == (26, 26 + 200 + 9 + 50 + 1 + 1)
    assert period.onset_index == period.in_bed_index
    assert period.time_in_bed_min == 261
    assert period.total_sleep_min == 251 and period.waso_min == 10
    assert period.awakenings == 2 and period.mean_awakening_min == 5.0
    assert period.efficiency_pct == pytest.approx(100 * 251 / 261)
    assert period.total_counts == 1000.0 and period.nonzero_epochs == 10
    assert period.fragmentation_index_pct == pytest.approx(100 / 3)  # 1 of 3 sleep runs is 1 min


def test_period_length_limits_and_end_of_recording() -> None:
    night = _states("W15 S100 W15 S170 W15 S200")
    counts = np.zeros(night.size)
    periods = tudor_locke_periods(night, counts)
    assert [p.in_bed_index for p in periods] == [130]  # 100 min too short; last runs to the end
    kept = tudor_locke_periods(night, counts, drop_period_at_end=False)
    assert [p.time_in_bed_min for p in kept] == [170, 200]
    assert tudor_locke_periods(night, counts, max_period_min=165) == []
    assert tudor_locke_periods(night, counts, min_nonzero_epochs=1) == []
    assert tudor_locke_periods(np.zeros(0, bool), np.zeros(0)) == []


def test_sleep_at_start_needs_enough_minutes() -> None:
    # a leading sleep run shorter than the bedtime rule counts as awake
    periods = tudor_locke_periods(_states("S3 W2 S170 W10"), np.zeros(185))
    assert [(p.in_bed_index, p.time_in_bed_min) for p in periods] == [(5, 170)]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        tudor_locke_periods(np.ones(5, bool), np.zeros(4))
    with pytest.raises(ValueError, match="boolean"):
        tudor_locke_periods(np.ones(5), np.zeros(5))
    with pytest.raises(ValueError, match="non-negative"):
        tudor_locke_periods(np.ones(2, bool), [0.0, -1.0])
    with pytest.raises(ValueError, match="max_period_min"):
        tudor_locke_periods(np.ones(2, bool), np.zeros(2), min_period_min=10, max_period_min=5)


def _minute(stamp: str, start: datetime) -> int:
    return int((datetime.fromisoformat(stamp.replace("Z", "+00:00")) - start).total_seconds()) // 60


def _compare(ours: SleepPeriod, ref: dict[str, str], start: datetime) -> dict[str, bool]:
    return {
        "in_bed": ours.in_bed_index == _minute(ref["in_bed_time"], start),
        "onset": ours.onset_index == _minute(ref["onset"], start),
        "out_bed": ours.out_bed_index == _minute(ref["out_bed_time"], start),
        "total_sleep": ours.total_sleep_min == int(ref["total_sleep_time"]),
        "efficiency": round(ours.efficiency_pct, 2) == float(ref["efficiency"]),
        "waso": ours.waso_min == int(ref["wake_after_onset"]),
        "awakenings": ours.awakenings == int(ref["nb_awakenings"]),
        "mean_awakening": round(ours.mean_awakening_min, 2) == float(ref["ave_awakening"]),
        "counts": ours.total_counts == float(ref["total_counts"]),
        "movement": round(ours.movement_index_pct, 3) == float(ref["movement_index"]),
        "fragmentation": round(ours.fragmentation_index_pct) == float(ref["fragmentation_index"]),
    }


@pytest.mark.shared_data
@needs_actilife
def test_tudor_locke_agrees_with_actilife() -> None:
    with (ACTILIFE / "GT3XPlus-RawData-Day01-sleep-awake.csv").open(newline="") as f:
        minutes = list(csv.DictReader(f))
    with (ACTILIFE / "GT3XPlus-RawData-Day01-sleep-periods.csv").open(newline="") as f:
        reference = list(csv.DictReader(f))
    start = datetime.fromisoformat(minutes[0]["timestamp"].replace("Z", "+00:00"))
    counts = np.array([float(r["axis1"]) for r in minutes])
    assert np.array_equal(
        sadeh(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1),
        [r["sadeh"] == "S" for r in minutes],
    )
    matched: dict[str, int] = {}
    total = 0
    for setting in ("Tudor-Locke Default", "Tudor-Locke Custom1", "Tudor-Locke Custom2"):
        refs = [r for r in reference if r["period_algorithm"] == setting]
        p = refs[0]
        ours = tudor_locke_periods(
            sadeh(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1),
            counts,
            bedtime_start_min=int(p["n_bedtime_start"]),
            wake_end_min=int(p["n_wake_time_end"]),
            min_period_min=int(p["min_sleep_period"]),
            max_period_min=int(p["max_sleep_period"]),
            min_nonzero_epochs=int(p["min_nonzero_epochs"]),
        )
        assert len(ours) == len(refs), setting
        if setting == "Tudor-Locke Custom1":  # ActiLife drops the period cut by the recording's end
            kept = tudor_locke_periods(
                sadeh(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1), counts,
                bedtime_start_min=5, wake_end_min=5, min_period_min=20,
                min_nonzero_epochs=5, drop_period_at_end=False,
            )  # fmt: skip
            assert [p.time_in_bed_min for p in kept[len(ours) :]] == [42]
        for mine, ref in zip(ours, refs, strict=True):
            for field, ok in _compare(mine, ref, start).items():
                matched[field] = matched.get(field, 0) + ok
            total += 1
    print(f"Tudor-Locke vs ActiLife: {total} periods; fields matching exactly: {matched}")
    assert total == 10
    assert all(n == total for n in matched.values()), matched


def literal_tudor_locke(asleep: np.ndarray, bed: int, wake: int) -> list[tuple[int, int]]:
    """The rules read literally, minute by minute: bedtime = first of `bed` consecutive sleep
    minutes, then wake time = first of `wake` consecutive wake minutes (or the recording's end)."""
    n, i, out = asleep.size, 0, []
    while i < n:
        if asleep[i : i + bed].sum() == bed and i + bed <= n:
            j = i + 1
            while j < n and not (j + wake <= n and not asleep[j : j + wake].any()):
                j += 1
            out.append((i, j))  # j == n: no waking run before the end
            i = j
        else:
            i += 1
    return out


@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(st.integers(1, 40), min_size=1, max_size=40),
    first_asleep=st.booleans(),
    bed=st.integers(1, 12),
    wake=st.integers(1, 15),
)
def test_runs_agree_with_the_literal_minute_rules(
    runs: list[int], first_asleep: bool, bed: int, wake: int
) -> None:
    asleep = np.concatenate(
        [np.full(n, (k % 2 == 0) == first_asleep) for k, n in enumerate(runs)]
    ).astype(bool)
    counts = np.zeros(asleep.size)
    ours = tudor_locke_periods(
        asleep, counts, bedtime_start_min=bed, wake_end_min=wake, min_period_min=1,
        max_period_min=10**6, drop_period_at_end=False,
    )  # fmt: skip
    literal = literal_tudor_locke(asleep, bed, wake)
    assert [(p.in_bed_index, p.out_bed_index) for p in ours] == literal
    for p in ours:
        assert p.total_sleep_min + p.waso_min == p.time_in_bed_min
        assert asleep[p.in_bed_index : p.in_bed_index + bed].all()
        # a period ends on a sleep minute, unless a too-short wake run reaches the end
        assert asleep[p.out_bed_index - 1] or p.out_bed_index == asleep.size
