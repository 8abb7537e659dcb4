"""A rebalance keeps the patients of the partitions a worker keeps and drops the others.

A consumer-group rebalance revokes every partition before it assigns (the eager protocol). Under
exactly-once the transaction of a partition the worker keeps goes on, so its patients' state in
memory is the one that will be committed; reloading the committed snapshots instead turned that
state back while the gate still dropped the inputs the older snapshot lacked as duplicates, and
bench/eos_bench.py saw a decision lost for good. The assignment only starts the loads (aiokafka
sends no heartbeat while it runs); a load under way when its partition is lost changes nothing.
The worker's handlers and the table are driven directly here, with snapshot readers that count
their reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest

from closedloop.app import ClosedLoopWorker
from closedloop.patients import PatientTable
from closedloop.policy import DEFAULT_POLICY
from closedloop.state_store import PatientSnapshot
from stream.settings import KafkaSettings

STRESS = "vagus.stress"


class TP(NamedTuple):
    topic: str
    partition: int


class CountingReader:
    """Snapshots of no patient, counting which partitions were read."""

    def __init__(self) -> None:
        self.reads: Counter[int] = Counter()

    async def __call__(self, partition: int) -> dict[str, PatientSnapshot]:
        self.reads[partition] += 1
        return {}


async def _table_with_two_patients(reader: CountingReader) -> PatientTable:
    table = PatientTable(DEFAULT_POLICY, read_partition=reader)
    for partition, patient in ((0, "p-aaaaaaaaaaaa"), (1, "p-bbbbbbbbbbbb")):
        await table.ensure_loaded(partition)
        table.mark_applied(patient, topic=STRESS, partition=partition, offset=7)
    return table


async def test_keep_only_forgets_the_partitions_no_longer_owned() -> None:
    reader = CountingReader()
    table = await _table_with_two_patients(reader)
    table.keep_only({0})
    assert table.loaded_partitions == {0}
    assert table.already_applied("p-aaaaaaaaaaaa", STRESS, 7)  # kept, not reloaded
    assert not table.already_applied("p-bbbbbbbbbbbb", STRESS, 7)  # dropped
    await table.ensure_loaded(1)
    await table.ensure_loaded(0)
    assert reader.reads == Counter({0: 1, 1: 2})


@pytest.fixture
def worker(tmp_path: Path) -> ClosedLoopWorker:
    return ClosedLoopWorker(
        KafkaSettings(), enrolment_file=tmp_path / "enrolled.json", exactly_once=True
    )


async def test_a_rebalance_that_hands_back_the_same_partitions_keeps_their_patients(
    worker: ClosedLoopWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    saves = []

    async def persist() -> None:
        saves.append(True)

    reader = CountingReader()
    worker.table = await _table_with_two_patients(reader)
    monkeypatch.setattr(worker, "_persist", persist)
    stress = worker.settings.topics.name("stress")
    everything = {TP(stress, 0), TP(stress, 1)}

    await worker._on_revoked(worker.app, everything, signal=None)
    assert saves == [True]  # the changed patients are saved as the rebalance starts
    await worker._on_assigned(worker.app, everything, signal=None)
    assert reader.reads == Counter({0: 1, 1: 1})  # nothing read back
    assert worker.table.already_applied("p-aaaaaaaaaaaa", STRESS, 7)
    assert worker.table.already_applied("p-bbbbbbbbbbbb", STRESS, 7)

    # the next rebalance moves partition 1 to another worker: only its patients go
    await worker._on_revoked(worker.app, everything, signal=None)
    await worker._on_assigned(worker.app, {TP(stress, 0)}, signal=None)
    assert worker.table.loaded_partitions == {0}
    assert worker.table.already_applied("p-aaaaaaaaaaaa", STRESS, 7)
    assert not worker.table.already_applied("p-bbbbbbbbbbbb", STRESS, 7)


class GatedReader(CountingReader):
    """Holds each read until released: a rebalance can come while a load is under way."""

    def __init__(self, fail_first: bool = False) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.fail_first = fail_first

    async def __call__(self, partition: int) -> dict[str, PatientSnapshot]:
        self.reads[partition] += 1
        await self.release.wait()
        if self.fail_first and self.reads[partition] == 1:
            raise TimeoutError("the state partition did not answer")
        return {}


async def test_a_load_under_way_when_its_partition_is_lost_changes_nothing() -> None:
    reader = GatedReader()
    table = PatientTable(DEFAULT_POLICY, read_partition=reader)
    table.start_loading(2)  # the assignment callback does not wait for it
    await asyncio.sleep(0)
    table.keep_only(set())  # the next rebalance gives partition 2 away
    reader.release.set()
    await asyncio.sleep(0.01)
    assert table.loaded_partitions == set()
    # given back later, it is read again, not taken from the disowned load
    await table.ensure_loaded(2)
    assert table.loaded_partitions == {2} and reader.reads[2] == 2


async def test_a_failed_load_is_logged_and_the_next_input_retries_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = GatedReader(fail_first=True)
    reader.release.set()
    table = PatientTable(DEFAULT_POLICY, read_partition=reader)
    with caplog.at_level(logging.WARNING, logger="closedloop.patients"):
        table.start_loading(3)
        await asyncio.sleep(0.01)
    assert "restoring the patients of partition 3 failed" in caplog.text
    assert table.loaded_partitions == set()
    await table.ensure_loaded(3)
    assert table.loaded_partitions == {3} and reader.reads[3] == 2


async def test_an_input_waiting_on_a_disowned_load_waits_for_a_new_one() -> None:
    reader = GatedReader()
    table = PatientTable(DEFAULT_POLICY, read_partition=reader)
    waiting = asyncio.ensure_future(table.ensure_loaded(4))
    await asyncio.sleep(0)
    table.keep_only(set())  # a rebalance disowns the load the input waits for
    reader.release.set()
    await asyncio.wait_for(waiting, 1.0)
    assert table.loaded_partitions == {4} and reader.reads[4] == 2
