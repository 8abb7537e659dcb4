"""The worker's consumer lag, per input topic over its own partitions (closedloop.lag)."""

from __future__ import annotations

from typing import NamedTuple

from closedloop.lag import InputPositions

SUFFIXES = {"p-stress": "stress", "p-sleep": "sleep"}


class TP(NamedTuple):
    topic: str
    partition: int


def test_lag_is_the_end_minus_the_next_offset_summed_per_topic() -> None:
    positions = InputPositions(SUFFIXES.get)
    positions.handled("p-stress", 0, 9)  # next to read: 10
    positions.handled("p-stress", 1, 4)  # next: 5
    positions.handled("p-sleep", 0, 2)  # next: 3
    ends = {TP("p-stress", 0): 25, TP("p-stress", 1): 5, TP("p-sleep", 0): 3}
    lag = positions.lag_by_topic(ends, ends.get)
    assert lag == {"stress": 15, "sleep": 0}


def test_partitions_not_read_or_not_fetched_count_zero_and_other_topics_are_left_out() -> None:
    positions = InputPositions(SUFFIXES.get)
    positions.handled("p-stress", 0, 0)
    ends: dict[TP, int | None] = {
        TP("p-stress", 0): None,  # the consumer has not fetched its end yet
        TP("p-stress", 1): 40,  # not read since assignment: its position is unknown
        TP("p-loopstate", 0): 99,  # not an input
    }
    assert positions.lag_by_topic(ends, ends.get) == {"stress": 0}


def test_a_revoked_partition_is_forgotten_and_counts_again_from_its_next_record() -> None:
    positions = InputPositions(SUFFIXES.get)
    positions.handled("p-stress", 0, 99)
    positions.handled("p-stress", 1, 9)
    positions.forget([TP("p-stress", 1)])  # partition 0 went to another worker
    ends = {TP("p-stress", 0): 200, TP("p-stress", 1): 12}
    assert positions.lag_by_topic(ends, ends.get) == {"stress": 2}
