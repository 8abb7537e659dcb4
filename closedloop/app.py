"""The closed-loop faust app: events in, decisions and commands out.

Only transport lives here. Each record passes the shared gate (validation, dead letters,
deduplication), then :func:`closedloop.decision.step` decides, and every output is awaited until
the broker acknowledges it before the input counts as handled (at-least-once).

State is kept per patient in this worker's memory for now; durable state that survives restarts
and rebalances is a later milestone (see CHANGELOG and the closed-loop issue).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faust

from closedloop.decision import PatientLoopState, record_evaluation, step
from closedloop.evaluation import SessionEvaluator
from closedloop.policy import DEFAULT_POLICY, policy_problems, validated
from closedloop.policy_store import read_topic
from closedloop.state_store import (
    STATE_SUFFIX,
    encode_snapshot,
    read_partition,
    restore,
    snapshot,
)
from closedloop.transport import SCHEME as TRANSPORT_SCHEME
from closedloop.transport import TunedApp
from closedloop.transport import register as register_transport
from stream.codec import encode_event
from stream.events import (
    AnyEvent,
    Event,
    FeatureWindow,
    InterventionOutcome,
    PolicySnapshot,
    PolicyVersion,
    SessionEvaluation,
    StressScore,
)
from stream.gate import Admitted, MessageGate, Rejected
from stream.ids import derived_event_id
from stream.settings import KafkaSettings

log = logging.getLogger(__name__)

#: The topics the worker consumes (by suffix).
INPUT_SUFFIXES = ("stress", "outcomes", "sleep", "policy", "features")
#: Snapshots are written in groups: after this many changed patients, or this often.
PERSIST_EVERY = 200
PERSIST_INTERVAL_S = 0.05


@dataclass
class LoopStats:
    """What the worker has done; written to a JSON file for the demo's loss accounting.

    Event ids are kept only when ``track_ids`` is set (the demo and tests ask for a stats
    file): a worker that runs for weeks keeps counters, not a growing list.
    """

    track_ids: bool = False
    admitted: int = 0
    admitted_ids: list[str] = field(default_factory=list)
    produced: dict[str, list[str]] = field(default_factory=dict)
    produced_count: int = 0
    already_applied: int = 0
    ready: bool = False
    duplicates: int = 0
    dead_lettered: int = 0
    commands: int = 0

    def record_admitted(self, event: Event) -> None:
        self.admitted += 1
        if self.track_ids:
            self.admitted_ids.append(event.event_id)

    def record_produced(self, topic: str, event: Event) -> None:
        self.produced_count += 1
        if self.track_ids:
            self.produced.setdefault(topic, []).append(event.event_id)


def faust_credentials(settings: KafkaSettings) -> Any:
    """The faust credentials object matching ``settings`` (None for plaintext)."""
    context = settings.ssl_context()
    if settings.sasl_mechanism is not None:
        password = os.environ.get(settings.sasl_password_env, "")
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=password,
            ssl_context=context,
            mechanism=settings.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class ClosedLoopWorker:
    """Builds the faust app and holds per-patient state for the partitions this worker owns."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        app_id: str | None = None,
        policy: PolicySnapshot = DEFAULT_POLICY,
        stats_path: Path | None = None,
    ) -> None:
        self.settings = settings
        # One consumer group per topic set: "vagus-closedloop" for the default prefix.
        app_id = app_id or f"{settings.topic_prefix}-closedloop"
        self.producer_id = f"{app_id}-{os.getpid()}"
        self.default_policy = validated(policy)
        self.stats = LoopStats(track_ids=stats_path is not None)
        self.stats_path = stats_path
        self.patients: dict[str, PatientLoopState] = {}
        self.offsets: dict[str, dict[str, int]] = {}
        self.partition_of: dict[str, int] = {}
        self.loaded_partitions: set[int] = set()
        self.known_policies: dict[str, PolicyVersion] = {}
        self._dirty: set[str] = set()
        self._loading: dict[int, asyncio.Future[None]] = {}
        self._persisting = asyncio.Lock()
        self.evaluators: dict[str, SessionEvaluator] = {}
        self.gate = MessageGate(consumer_id=self.producer_id)
        topics = settings.topics
        register_transport()
        self.app = TunedApp(
            app_id,
            broker=f"{TRANSPORT_SCHEME}://{settings.bootstrap}",
            broker_credentials=faust_credentials(settings),
            value_serializer="raw",
            key_serializer="raw",
            web_enabled=False,
            store="memory://",
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=settings.session_timeout_ms / 1000,
            broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
            broker_rebalance_timeout=max(1.0, settings.session_timeout_ms / 1000),
            broker_commit_interval=0.5,
            producer_acks=-1,
        )
        self.app.fetch_max_wait_ms = settings.fetch_max_wait_ms
        self._inputs = self.app.topic(
            *(topics.name(suffix) for suffix in INPUT_SUFFIXES),
            value_serializer="raw",
            key_serializer="raw",
        )
        self.app.agent(self._inputs, name="decide")(self._decide)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.app.timer(0.5)(self._write_stats)
        self.app.timer(PERSIST_INTERVAL_S)(self._persist)

    async def _decide(self, stream: Any) -> None:
        async for record in stream.events():
            message = record.message
            verdict = self.gate.check(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
            )
            if isinstance(verdict, Rejected):
                self.stats.dead_lettered += 1
                await self._send(verdict.dead_letter)
                continue
            if not isinstance(verdict, Admitted):
                self.stats.duplicates += 1
                continue
            event = verdict.event
            self.stats.record_admitted(event)
            if isinstance(event, PolicyVersion):
                self.apply_policy(event)
                continue
            await self._evaluate(event)
            if isinstance(event, FeatureWindow):
                continue
            await self._ensure_loaded(message.partition)
            patient = event.patient_id
            offsets = self.offsets.setdefault(patient, {})
            if message.offset <= offsets.get(message.topic, -1):
                self.stats.already_applied += 1  # redelivered after a restart: in the snapshot
                continue
            state = self._state_for(patient)
            result = step(state, event, producer_id=self.producer_id)
            if result.command is not None:
                self.stats.commands += 1
                log.info("session for %s: %s", patient, result.command.reason.rule)
                await self._send(result.command)
            if result.decision is not None:
                await self._send(result.decision)
            if isinstance(event, StressScore) and result.decision is None:
                continue  # a score outside an episode changes nothing: no snapshot needed
            offsets[message.topic] = message.offset
            self._dirty.add(patient)
            if len(self._dirty) >= PERSIST_EVERY:
                await self._persist()

    async def _ensure_loaded(self, partition: int) -> None:
        """Before the first input of a partition this worker owns, restore its patients.

        Loading starts as soon as the partition is assigned (see :meth:`_on_assigned`); an input
        that arrives meanwhile waits for that same load rather than starting another.
        """
        if partition in self.loaded_partitions:
            return
        loading = self._loading.get(partition)
        if loading is None:
            loading = asyncio.ensure_future(self._load(partition))
            self._loading[partition] = loading
        await asyncio.shield(loading)

    async def _load(self, partition: int) -> None:
        try:
            for patient, saved in (await read_partition(self.settings, partition)).items():
                self.patients[patient] = restore(saved)
                self.offsets[patient] = dict(saved.offsets)
                self._adopt_known_policy(patient)
                self.partition_of[patient] = partition
            self.loaded_partitions.add(partition)
        finally:
            self._loading.pop(partition, None)

    async def _on_assigned(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Restore the patients of newly assigned partitions before their inputs arrive."""
        del sender, signal, kwargs
        assigned: set[Any] = args[0] if args else set()
        inputs = {self.settings.topics.name(suffix) for suffix in INPUT_SUFFIXES}
        for partition in sorted({tp.partition for tp in assigned if tp.topic in inputs}):
            await self._ensure_loaded(partition)
        self.stats.ready = True

    async def _persist(self) -> None:
        """Write the changed patients' snapshots, after the outputs they account for.

        Snapshots are encoded first, then the producer is flushed (every output of the events
        they include is on the broker), then they are sent. So a snapshot never reaches the
        broker ahead of an output it claims; a snapshot lost in a crash only means the inputs
        run again, with the same output ids. faust flushes again before committing offsets.
        """
        async with self._persisting:
            if not self._dirty:
                return
            pending = [
                (patient, encode_snapshot(snapshot(patient, state, self.offsets[patient])))
                for patient in self._dirty
                if (state := self.patients.get(patient)) is not None
            ]
            self._dirty.clear()
            await self.app.producer.flush()
            topic = self.app.topic(
                self.settings.topics.name(STATE_SUFFIX),
                value_serializer="raw",
                key_serializer="raw",
            )
            for patient, saved in pending:
                await topic.send(key=patient.encode("ascii"), value=saved)

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Forget partitions another worker now owns; their state is reloaded if they return.

        faust sends ``(app, revoked_topic_partitions, signal=...)``.
        """
        del sender, signal, kwargs
        revoked: set[Any] = args[0] if args else set()
        lost = {tp.partition for tp in revoked}
        self.loaded_partitions -= lost
        for patient in [p for p, part in self.partition_of.items() if part in lost]:
            self.patients.pop(patient, None)
            self.offsets.pop(patient, None)
            self.partition_of.pop(patient, None)

    async def _evaluate(self, event: AnyEvent) -> None:
        """Feed the patient's session evaluator; publish the evaluations it completes."""
        evaluator = self.evaluators.setdefault(event.patient_id, SessionEvaluator())
        if isinstance(event, StressScore):
            evaluator.on_score(event)
        elif isinstance(event, InterventionOutcome):
            evaluator.on_outcome(event)
        elif isinstance(event, FeatureWindow):
            for done in evaluator.on_window(event):
                record_evaluation(self._state_for(event.patient_id), done.modality, done.metrics)
                await self._send(
                    SessionEvaluation(
                        event_id=derived_event_id("evaluation", done.command_id),
                        patient_id=event.patient_id,
                        producer_id=self.producer_id,
                        gateway_time_ns=event.gateway_time_ns,
                        command_id=done.command_id,
                        modality=done.modality,
                        outcome=done.outcome,
                        session_start_ns=done.start_ns,
                        session_end_ns=done.end_ns,
                        metrics=done.metrics,
                        effectiveness=evaluator.effectiveness(done.modality),
                    )
                )

    def _state_for(self, patient_id: str) -> PatientLoopState:
        state = self.patients.get(patient_id)
        if state is None:
            state = PatientLoopState(policy=self.default_policy, policy_version=0)
            self.patients[patient_id] = state
            self._adopt_known_policy(patient_id)
        return state

    def _adopt_known_policy(self, patient_id: str) -> None:
        known = self.known_policies.get(patient_id)
        if known is not None:
            self.apply_policy(known)

    def apply_policy(self, version: PolicyVersion) -> None:
        """Adopt a newer policy version, after checking it again against the safe ranges."""
        known = self.known_policies.get(version.patient_id)
        if known is None or version.version > known.version:
            self.known_policies[version.patient_id] = version
        state = self._state_for(version.patient_id)
        if version.version <= state.policy_version:
            return
        problems = policy_problems(version.policy)
        if problems:
            log.error(
                "refusing policy v%d for %s: %s",
                version.version,
                version.patient_id,
                "; ".join(problems),
            )
            return
        state.policy = version.policy
        state.policy_version = version.version
        log.info("%s now runs on policy v%d", version.patient_id, version.version)

    async def load_policies(self) -> None:
        """Read every published policy version before deciding anything (restarts included)."""
        for event in await read_topic(self.settings, self.settings.topics.name("policy")):
            if isinstance(event, PolicyVersion):
                self.apply_policy(event)

    async def _send(self, event: Event) -> None:
        topic_name = self.settings.topics.for_event(type(event))
        topic = self.app.topic(topic_name, value_serializer="raw", key_serializer="raw")
        # Queued, not awaited one by one: _persist and faust's commit both flush first.
        await topic.send(key=event.patient_id.encode("ascii"), value=encode_event(event))
        self.stats.record_produced(topic_name, event)

    async def _write_stats(self) -> None:
        self.write_stats()

    def write_stats(self) -> None:
        if self.stats_path is None:
            return
        temporary = self.stats_path.with_suffix(".tmp")
        payload = asdict(self.stats) | {"written_at": time.time()}
        temporary.write_text(json.dumps(payload))
        temporary.replace(self.stats_path)

    def run(self) -> None:
        """Run the worker until SIGINT or SIGTERM; faust handles both gracefully."""
        asyncio.run(self.load_policies())
        worker = faust.Worker(self.app, loglevel="warning", quiet=True)
        try:
            worker.execute_from_commandline()
        finally:
            self.write_stats()
