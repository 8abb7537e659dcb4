"""The closed-loop faust app: topics in, decisions and commands out.

Only wiring lives here: the faust app and its agent, timers and rebalance hooks. Each record
passes the shared gate (validation, dead letters, deduplication); its partition's patients are
restored (closedloop.patients); closedloop.handling evaluates and decides; the outputs are queued
to the broker (closedloop.outputs), and the changed patients' snapshots follow in groups, after
the outputs they account for and before the inputs' offsets are committed (at-least-once,
nothing triggered twice: see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from closedloop.handling import EventHandler
from closedloop.lag import InputPositions
from closedloop.outputs import DeliveryError, OutputQueue
from closedloop.patients import PatientTable
from closedloop.policy import DEFAULT_POLICY, validated
from closedloop.policy_store import read_records
from closedloop.state_store import STATE_SUFFIX, read_partition
from closedloop.stats import LoopStats
from closedloop.transport import SCHEME as TRANSPORT_SCHEME
from closedloop.transport import QuietMonitor, RawSchema, TunedApp, faust_credentials
from closedloop.transport import register as register_transport
from closedloop.worker_stop import DeadlineWorker
from stream.codec import encode_event
from stream.enrolment import GatewayRegistry
from stream.events import Event, PolicySnapshot, PolicyVersion
from stream.gate import Admitted, MessageGate, Rejected, Verdict
from stream.idempotence import choose_idempotence
from stream.settings import KafkaSettings
from stream.timeouts import TIMEOUTS, bounded

__all__ = ["INPUT_SUFFIXES", "ClosedLoopWorker", "DeliveryError"]

log = logging.getLogger(__name__)

#: The topics the worker consumes (by suffix).
INPUT_SUFFIXES = ("stress", "outcomes", "sleep", "quality", "policy", "features")
#: Inputs only the patient's enrolled gateway may write: each record must carry its signature.
#: Policy versions are the clinician's, with an audit of their own (closedloop.policy_log).
SIGNED_SUFFIXES = tuple(suffix for suffix in INPUT_SUFFIXES if suffix != "policy")
#: Snapshots are written in groups: after this many changed patients, and before every commit
#: of input offsets (every ``COMMIT_INTERVAL_S``), so no input counts as consumed before the
#: state it changed is on the broker.
PERSIST_EVERY = 200
COMMIT_INTERVAL_S = 0.5
#: faust consumes in a thread of its own. With Python's default 5 ms switch interval, each
#: socket write of the producer (which releases the GIL) can leave the deciding thread waiting
#: that long to get it back; 0.5 ms bounds the wait.
GIL_SWITCH_INTERVAL_S = 0.0005


class MisplacedEventError(Exception):
    """A record of a type its topic never carries (a policy off the policy topic or the reverse)."""


class ClosedLoopWorker:
    """Builds the faust app around a :class:`PatientTable` and an :class:`EventHandler`."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        app_id: str | None = None,
        policy: PolicySnapshot = DEFAULT_POLICY,
        stats_path: Path | None = None,
        enrolment_file: Path,
        exactly_once: bool = False,
    ) -> None:
        self.settings = settings
        # One consumer group per topic set: "vagus-closedloop" for the default prefix.
        app_id = app_id or f"{settings.topic_prefix}-closedloop"
        self.producer_id = f"{app_id}-{os.getpid()}"
        self.stats = LoopStats(track_ids=stats_path is not None)
        self.stats_path = stats_path
        self.table = PatientTable(
            validated(policy),
            read_partition=lambda p: read_partition(settings, p, committed_only=exactly_once),
        )
        self.handler = EventHandler(self.table, producer_id=self.producer_id)
        self._persisting = asyncio.Lock()
        self.gate = MessageGate(
            consumer_id=self.producer_id,
            verifier=GatewayRegistry(enrolment_file),
            signed_topics={settings.topics.name(suffix) for suffix in SIGNED_SUFFIXES},
        )
        suffixes = {settings.topics.name(suffix): suffix for suffix in INPUT_SUFFIXES}
        self.positions = InputPositions(suffixes.get)
        register_transport()
        # Tables live in memory and in Kafka; faust still creates a data folder, by default in the
        # working directory. A private temporary one, removed with the app, keeps the tree clean.
        self._datadir = tempfile.TemporaryDirectory(prefix="vagus-faust-")
        self.app = TunedApp(
            app_id,
            datadir=self._datadir.name,
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
            broker_commit_interval=COMMIT_INTERVAL_S,
            producer_acks=-1,
            # faust's transactions: measured against at-least-once in bench/eos_bench.py
            processing_guarantee="exactly_once" if exactly_once else "at_least_once",
            producer_linger=0.005,
            Monitor=QuietMonitor,
        )
        self.app.fetch_max_wait_ms = settings.fetch_max_wait_ms
        inputs = self.app.topic(
            *(settings.topics.name(suffix) for suffix in INPUT_SUFFIXES),
            schema=RawSchema(key_serializer="raw", value_serializer="raw"),
        )
        self._policy_topic = settings.topics.name("policy")
        self.outputs = OutputQueue(
            self.app, self.stats, policy_topic=self._policy_topic, partitions=settings.partitions
        )
        self.app.agent(inputs, name="decide")(self._decide)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.app.timer(0.5)(self._write_stats)
        self.app.before_commit = self._persist
        # Exactly-once: a commit must not run while a record is half handled, or that record's
        # outputs join the committing transaction without its offset or its snapshot, and a
        # crash repeats them (bench/eos_bench.py measured such duplicates without this lock).
        self.app.commit_lock = asyncio.Lock() if exactly_once else None
        self.app.timer(60.0)(self.outputs.forget_partitions)

    async def _decide(self, stream: Any) -> None:
        async for record in stream.events():
            async with self.app.commit_lock or contextlib.nullcontext():
                await self._handle_record(record.message)

    async def _handle_record(self, message: Any) -> None:
        """Gate, decide and send one record (dead-lettered when it cannot be decided)."""
        self.positions.handled(message.topic, message.partition, message.offset)
        verdict = self.gate.check(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
        )
        if isinstance(verdict, Rejected):
            self.stats.dead_lettered += 1
            if verdict.signature_failure is not None:
                self.stats.record_signature_rejected(verdict.signature_failure)
            await self._send(verdict.dead_letter)
            return
        try:
            await self._handle_admitted(verdict, message)
        except MisplacedEventError as exc:
            # Unsigned policy records must not carry gateway events past the signature check,
            # nor a signed gateway topic carry a policy past the clinicians' log.
            self.stats.misplaced += 1
            log.warning("dead-lettering %s: %s", _where(message), exc)
            await self._dead_letter(message, str(exc))
        except Exception as exc:
            self.stats.handling_failures += 1
            log.exception("dead-lettering %s after a handling failure", _where(message))
            await self._dead_letter(message, f"handling failed: {type(exc).__name__}: {exc}")

    async def _dead_letter(self, message: Any, error: str) -> None:
        """Dead-letter an admitted record that could not be decided, saying why."""
        self.stats.dead_lettered += 1
        await self._send(
            self.gate.dead_letter(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
                error=error,
            )
        )

    async def _handle_admitted(self, verdict: Verdict, message: Any) -> None:
        """Decide on one record the gate let through (a duplicate only counts)."""
        if not isinstance(verdict, Admitted):
            self.stats.duplicates += 1
            return
        event = verdict.event
        on_policy_topic = message.topic == self._policy_topic
        if isinstance(event, PolicyVersion) != on_policy_topic:
            raise MisplacedEventError(
                f"misplaced: a {type(event).__name__} on {message.topic}; policy versions are read"
                f" from {self._policy_topic} only, and only policy versions from it"
            )
        self.stats.record_admitted(event)
        if isinstance(event, PolicyVersion):
            await self._fold_policy(message.partition, message.offset, event)
            return
        await self.table.ensure_loaded(message.partition)
        handled = self.handler.handle(
            event, topic=message.topic, partition=message.partition, offset=message.offset
        )
        self.stats.already_applied += handled.already_applied
        self.stats.commands += handled.command is not None
        for output in handled.outputs:
            await self._send(output)
        if self.table.changed_patients >= PERSIST_EVERY:
            await self._persist()

    async def _on_assigned(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Drop the patients of partitions this worker lost, and start restoring those of newly
        assigned ones (each input waits for its partition's load).

        Patients of partitions the worker keeps stay as they are in memory. A rebalance revokes
        every partition before it assigns (the eager protocol), and under exactly-once the kept
        partitions' open transaction goes on (faust stops only the lost partitions' producers):
        reloading the committed snapshots would turn back those patients' state while the
        gate's memory of event ids still drops the inputs the older snapshot lacks, and a later
        decision would be made on a state without them (found by bench/eos_bench.py)."""
        del sender, signal, kwargs
        assigned: set[Any] = args[0] if args else set()
        inputs = {self.settings.topics.name(suffix) for suffix in INPUT_SUFFIXES}
        owned = {tp.partition for tp in assigned if tp.topic in inputs}
        self.table.keep_only(owned)
        for partition in sorted(owned):  # inputs wait for their partition's load
            self.table.start_loading(partition)
        self.positions.forget(assigned)
        self.stats.ready = True

    def input_lag(self) -> dict[str, int]:
        """Records waiting on this worker's input partitions, by topic (closedloop.lag)."""
        if not self.stats.ready:
            return {}
        consumer = self.app.consumer
        return self.positions.lag_by_topic(consumer.assignment(), consumer.highwater)

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Save the changed patients when a rebalance starts (faust sends ``(app, revoked,
        signal=)``): their inputs' offsets may be committed during the rebalance, and a next
        owner must not restore a snapshot older than those inputs. Which partitions were
        really lost is known only once the new assignment comes (_on_assigned forgets them)."""
        del sender, signal, kwargs, args
        await self._persist()

    async def _persist(self) -> None:
        """Write the changed patients' snapshots, after the outputs they account for.

        Snapshots are encoded first, then the producer is flushed (every output of the events
        they include is on the broker), then they are sent and flushed too. So a snapshot never
        reaches the broker ahead of an output it claims, and (run before each commit) no input
        counts as consumed before its outputs and state are on the broker. A snapshot lost in a
        crash only means the inputs run again, with the same output ids.
        """
        async with self._persisting:
            pending = self.table.take_snapshots()
            await self.outputs.all_delivered()
            topic = self.settings.topics.name(STATE_SUFFIX)
            for patient, saved in pending:
                await self.outputs.produce(topic, patient.encode("ascii"), saved)
            if pending:
                await self.outputs.all_delivered()
            self.stats.state_saved_at = time.time()

    async def load_policies(self, partitions: list[int] | None = None) -> None:
        """Fold the policy log (of ``partitions``, else all) from where the fold stands to the
        end: at start-up (restarts included) before deciding anything, and to fill a gap."""
        start = (
            None
            if partitions is None
            else {p: self.table.next_policy_offset(p) for p in partitions}
        )
        for record in await read_records(
            self.settings, self._policy_topic, partitions=partitions, start=start
        ):
            if isinstance(record.event, PolicyVersion):
                self.table.apply_policy(
                    record.event, partition=record.partition, offset=record.offset
                )

    async def _fold_policy(self, partition: int, offset: int, version: PolicyVersion) -> None:
        """Fold a delivered policy record in log order: records the fold has not seen before it
        (written while another worker owned the partition) are read first, so the worker judges
        every record against the same predecessors as the CLI does."""
        if offset > self.table.next_policy_offset(partition):
            await self.load_policies([partition])
        self.table.apply_policy(version, partition=partition, offset=offset)

    async def _send(self, event: Event) -> None:
        topic_name = self.settings.topics.for_event(type(event))
        await self.outputs.produce(
            topic_name, event.patient_id.encode("ascii"), encode_event(event)
        )
        self.stats.record_produced(topic_name, event)

    async def _write_stats(self) -> None:
        self.write_stats()

    def write_stats(self) -> None:
        if self.stats_path is not None:
            self.stats.write(self.stats_path)

    def run(self) -> None:
        """Run the worker until SIGINT or SIGTERM: faust stops it gracefully, within
        closedloop.worker_stop's deadline."""
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        asyncio.run(self._prepare())
        worker = DeadlineWorker(
            self.app, loglevel="warning", quiet=True, last_words=self._last_words
        )
        try:
            worker.execute_from_commandline()
        finally:
            self._last_words()

    async def _prepare(self) -> None:
        """Before faust starts: the policy log folded, the producer's idempotence chosen."""
        await self.load_policies()
        choice = await bounded(
            choose_idempotence(self.settings, timeout_s=TIMEOUTS.connect_s),
            TIMEOUTS.connect_s,
            "the worker's producer-id question",
        )
        log.info("idempotent producer %s: %s", "on" if choice.enabled else "off", choice.reason)
        self.app.idempotent_producer = choice.enabled
        self.stats.idempotent_producer = choice.enabled
        self.stats.idempotence_reason = choice.reason

    def _last_words(self) -> None:
        """What must happen however the worker ends: its stats written, its folder removed."""
        try:
            self.write_stats()
        finally:
            self._datadir.cleanup()


def _where(message: Any) -> str:
    """A record's place, as logs name it: ``topic[partition]@offset``."""
    return f"{message.topic}[{message.partition}]@{message.offset}"
