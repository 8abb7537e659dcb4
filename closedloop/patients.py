"""The patients this worker owns: decision state, evaluators, applied offsets and policies.

Restore and persist live here, apart from faust. When a worker gains a partition it restores
that partition's patients from their snapshots before deciding anything (see
:mod:`closedloop.state_store`); after handling an input that changed a patient, the input's offset
is recorded and the patient is marked for the next group of snapshots. An input at or below a
recorded offset was already applied before a restart and is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from closedloop.decision import PatientLoopState
from closedloop.evaluation import SessionEvaluator
from closedloop.policy_log import PolicyLog
from closedloop.state_store import (
    PatientSnapshot,
    encode_snapshot,
    restore,
    restore_evaluator,
    snapshot,
)
from stream.events import PolicySnapshot, PolicyVersion

log = logging.getLogger(__name__)

#: Reads the latest snapshot of every patient on one state partition.
SnapshotReader = Callable[[int], Awaitable[dict[str, PatientSnapshot]]]


def _log_failed_load(partition: int, done: asyncio.Future[None]) -> None:
    if not done.cancelled() and (error := done.exception()) is not None:
        log.warning("restoring the patients of partition %d failed: %s", partition, error)


class PatientTable:
    """Per-patient state for the partitions this worker owns."""

    def __init__(self, default_policy: PolicySnapshot, *, read_partition: SnapshotReader) -> None:
        self.default_policy = default_policy
        self._read_partition = read_partition
        self.states: dict[str, PatientLoopState] = {}
        self.evaluators: dict[str, SessionEvaluator] = {}
        self.offsets: dict[str, dict[str, int]] = {}
        self.partition_of: dict[str, int] = {}
        self.loaded_partitions: set[int] = set()
        #: Every patient's policy log folded by the one rule (closedloop.policy_log), and the
        #: last policy-topic offset folded per partition, so no record is folded twice.
        self.policy_logs: dict[str, PolicyLog] = {}
        self.policy_offsets: dict[int, int] = {}
        self._dirty: set[str] = set()
        self._loading: dict[int, asyncio.Future[None]] = {}
        #: bumped when a partition is forgotten, so a load begun before that is disowned
        self._generation: dict[int, int] = {}

    def start_loading(self, partition: int) -> None:
        """Begin restoring a partition's patients, without waiting (the worker's assignment
        callback: aiokafka sends no heartbeat while it runs, so reading every state partition
        there could outlast the group session). A failure is logged; the next input of the
        partition retries the load and, failing again, is dead-lettered with the reason."""
        if partition in self.loaded_partitions or partition in self._loading:
            return
        generation = self._generation.get(partition, 0)
        loading = asyncio.ensure_future(self._load(partition, generation))
        loading.add_done_callback(lambda done: _log_failed_load(partition, done))
        self._loading[partition] = loading

    async def ensure_loaded(self, partition: int) -> None:
        """Before the first input of a partition this worker owns, restore its patients.

        Loading starts as soon as the partition is assigned; an input that arrives meanwhile
        waits for that same load rather than starting another (and for a new one, should a
        rebalance disown the load it waited for).
        """
        while partition not in self.loaded_partitions:
            self.start_loading(partition)
            await asyncio.shield(self._loading[partition])

    async def _load(self, partition: int, generation: int) -> None:
        """Restore one partition; a load the partition was forgotten during (a rebalance gave it
        away meanwhile) changes nothing."""
        try:
            saved_patients = await self._read_partition(partition)
            if self._generation.get(partition, 0) != generation:
                return
            for patient, saved in saved_patients.items():
                self.states[patient] = restore(saved)
                self.evaluators[patient] = restore_evaluator(saved)
                self.offsets[patient] = dict(saved.offsets)
                self._adopt_known_policy(patient)
                self.partition_of[patient] = partition
            self.loaded_partitions.add(partition)
        finally:
            if self._generation.get(partition, 0) == generation:
                self._loading.pop(partition, None)

    def keep_only(self, partitions: set[int]) -> None:
        """Forget every partition this worker held but no longer owns (after a rebalance)."""
        held = self.loaded_partitions | set(self.partition_of.values()) | set(self._loading)
        self.forget(held - partitions)

    def forget(self, partitions: set[int]) -> None:
        """Drop partitions another worker now owns; their state is reloaded if they return, and
        a load still under way for one of them is disowned."""
        self.loaded_partitions -= partitions
        for partition in partitions:
            self._generation[partition] = self._generation.get(partition, 0) + 1
            self._loading.pop(partition, None)
        for patient in [p for p, part in self.partition_of.items() if part in partitions]:
            self.states.pop(patient, None)
            self.evaluators.pop(patient, None)
            self.offsets.pop(patient, None)
            self.partition_of.pop(patient, None)
            self._dirty.discard(patient)

    def already_applied(self, patient_id: str, topic: str, offset: int) -> bool:
        """True for an input the patient's restored snapshot already reflects."""
        return offset <= self.offsets.get(patient_id, {}).get(topic, -1)

    def mark_applied(self, patient_id: str, *, topic: str, partition: int, offset: int) -> None:
        """Record that the patient's state now reflects this input; snapshot it soon."""
        self.offsets.setdefault(patient_id, {})[topic] = offset
        self.partition_of[patient_id] = partition
        self._dirty.add(patient_id)

    @property
    def changed_patients(self) -> int:
        return len(self._dirty)

    def take_snapshots(self) -> list[tuple[str, bytes]]:
        """Encoded snapshots of every changed patient, in one go; the changed set is emptied."""
        pending = [
            (
                patient,
                encode_snapshot(
                    snapshot(
                        patient,
                        self.state_for(patient),
                        self.offsets.get(patient, {}),
                        evaluator=self.evaluators.get(patient),
                    )
                ),
            )
            for patient in sorted(self._dirty)
        ]
        self._dirty.clear()
        return pending

    def state_for(self, patient_id: str) -> PatientLoopState:
        state = self.states.get(patient_id)
        if state is None:
            state = PatientLoopState(policy=self.default_policy, policy_version=0)
            self.states[patient_id] = state
            self._adopt_known_policy(patient_id)
        return state

    def evaluator_for(self, patient_id: str) -> SessionEvaluator:
        return self.evaluators.setdefault(patient_id, SessionEvaluator())

    def _adopt_known_policy(self, patient_id: str) -> None:
        """Make the patient run on its log's current version (the log, not a snapshot, decides:
        a snapshot may carry a version that the rule refuses)."""
        folded = self.policy_logs.get(patient_id)
        state = self.states.get(patient_id)
        if folded is None or state is None:
            return
        if (state.policy_version, state.policy) != (folded.state.version, folded.state.policy):
            state.policy = folded.state.policy
            state.policy_version = folded.state.version
            log.info("%s now runs on policy v%d", patient_id, folded.state.version)

    def next_policy_offset(self, partition: int) -> int:
        """The policy-topic offset on ``partition`` the fold expects next."""
        return self.policy_offsets.get(partition, -1) + 1

    def apply_policy(
        self, version: PolicyVersion, *, partition: int | None = None, offset: int | None = None
    ) -> None:
        """Fold the next record of the patient's policy log and run on the log's current version.

        With its ``partition`` and ``offset`` a record at or below the last one folded there is
        skipped (a redelivery), so the worker folds each log once, in order, as every reader does.
        """
        if partition is not None and offset is not None:
            if offset < self.next_policy_offset(partition):
                return
            self.policy_offsets[partition] = offset
        folded = self.policy_logs.get(version.patient_id)
        if folded is None:
            folded = self.policy_logs[version.patient_id] = PolicyLog.empty(self.default_policy)
        why = folded.add(version)
        if why:
            # A race's loser is routine (its writer retries); anything else is worth a look.
            level = logging.INFO if why.startswith("lost the race") else logging.ERROR
            log.log(
                level, "refusing policy v%d for %s: %s", version.version, version.patient_id, why
            )
            return
        self.state_for(version.patient_id)
        self._adopt_known_policy(version.patient_id)
