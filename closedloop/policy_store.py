"""Policies and their audit trail live on Kafka topics; this module reads and changes them.

Every change is a new, numbered, immutable :class:`PolicyVersion` carrying its
:class:`AuditEntry` (who changed what from which value to which, and why). Nothing is edited in
place, so the history a clinician reads is the history the loop acted on. A patient without an
accepted version runs on the configured default, shown as version 0.

Concurrent writers never share a version, without transactions: each appends a candidate for
the next number and reads the patient's log back past its own record; the rule of
:mod:`closedloop.policy_log` (the first valid record for a number wins) then says, for good,
whether it won. A loser re-bases its change on the winner and tries again, a bounded number of
times. Reading "the whole topic" stops at each partition's high watermark as reported by fetch
responses, not at ListOffsets (which the bundled broker answers wrongly; see docs/broker.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from closedloop.policy import PolicyError, with_changes
from closedloop.policy_log import (
    SET_ACTION,
    PolicyLog,
    PolicyState,
    audit_target,
    audited_changes,
    current_policy,
    text_problems,
)
from stream.codec import decode_event, encode_event
from stream.errors import SchemaError
from stream.events import AnyEvent, AuditEntry, PolicySnapshot, PolicyVersion
from stream.idempotence import choose_idempotence
from stream.settings import KafkaSettings
from stream.timeouts import TIMEOUTS, bounded
from stream.topics import topic_partitions

__all__ = [
    "MAX_ATTEMPTS",
    "LogRecord",
    "LostRaceError",
    "PolicyState",
    "Published",
    "change",
    "history",
    "parse_assignments",
    "publish_change",
    "read_records",
    "read_topic",
]

#: Tries of one change before giving up: each lost race means another writer won a version, so
#: N concurrent writers all succeed within N tries.
MAX_ATTEMPTS = 8
PRODUCER_ID = "vagus-policy-cli"


class LostRaceError(PolicyError):
    """Every try of a change lost its version number to another writer."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One decoded record with where it sits in its topic."""

    partition: int
    offset: int
    event: AnyEvent


@dataclass(frozen=True, slots=True)
class Published:
    """A change that won its version: the record, its audit, and the races lost on the way."""

    version: PolicyVersion
    entry: AuditEntry
    lost: tuple[str, ...] = ()


async def read_records(
    settings: KafkaSettings,
    topic: str,
    *,
    partitions: Collection[int] | None = None,
    start: Mapping[int, int] | None = None,
    through: Mapping[int, int] | None = None,
) -> list[LogRecord]:
    """Every valid record of ``topic`` (or of ``partitions``) in log order, up to the end.

    Reading begins at ``start[p]`` (else the beginning) and goes on to the high watermark a fetch
    response reports, and at least past offset ``through[p]`` (a record just written). Invalid
    messages are skipped here (the consumers that own the topic dead-letter them).
    """
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        request_timeout_ms=TIMEOUTS.request_ms,
        **settings.client_kwargs(),
    )
    found: list[LogRecord] = []

    async def to_the_end() -> list[LogRecord]:
        known = consumer.partitions_for_topic(topic) or await topic_partitions(
            settings, topic, timeout_s=TIMEOUTS.request_s
        )
        wanted = sorted(known if partitions is None else set(partitions) & known)
        assigned = [TopicPartition(topic, p) for p in wanted]
        if not assigned:
            return []
        consumer.assign(assigned)
        for tp in assigned:
            if start is not None and tp.partition in start:
                consumer.seek(tp, start[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)
        while True:
            batches = await consumer.getmany(*assigned, timeout_ms=200)
            for tp, records in batches.items():
                for record in records:
                    try:
                        event = decode_event(record.value or b"")
                    except SchemaError:
                        continue
                    found.append(LogRecord(tp.partition, record.offset, event))
            done = [
                await _at_end(consumer, tp, (through or {}).get(tp.partition, -1))
                for tp in assigned
            ]
            if all(done):
                return sorted(found, key=lambda r: (r.partition, r.offset))

    try:
        await bounded(consumer.start(), TIMEOUTS.connect_s, "a reader's start")
        return await bounded(to_the_end(), TIMEOUTS.read_log_s, f"a read of {topic} to its end")
    finally:
        await _stop_quietly(consumer)


async def _stop_quietly(client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    """Close a client within ``TIMEOUTS.stop_s``; a broker that is gone cannot hold it."""
    # One turn of the loop first: aiokafka's consumer cancels a task of its own on stop, and
    # when that task has not run yet (a stop right after start) the stop raises CancelledError.
    await asyncio.sleep(0)
    with contextlib.suppress(KafkaError, OSError, TimeoutError):
        await bounded(client.stop(), TIMEOUTS.stop_s, "a client's stop")


async def _at_end(consumer: AIOKafkaConsumer, partition: TopicPartition, through: int) -> bool:
    """True once a fetch response has given the high watermark and we have read up to it."""
    high = consumer.highwater(partition)
    position = await consumer.position(partition)
    return high is not None and position >= high and position > through


async def read_topic(settings: KafkaSettings, topic: str) -> list[AnyEvent]:
    """Every valid event on ``topic``, from the beginning to the current end."""
    return [record.event for record in await read_records(settings, topic)]


def _patient_versions(records: list[LogRecord], patient_id: str) -> list[PolicyVersion]:
    return [
        r.event
        for r in records
        if isinstance(r.event, PolicyVersion) and r.event.patient_id == patient_id
    ]


async def history(settings: KafkaSettings, patient_id: str, default: PolicySnapshot) -> PolicyLog:
    """The patient's policy log folded by the one rule: current state, accepted, refused."""
    records = await read_records(settings, settings.topics.name("policy"))
    return current_policy(_patient_versions(records, patient_id), default)


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``key=value`` strings to typed values (the policy's own field types decide)."""
    fields = {f.name: f.type for f in msgspec.structs.fields(PolicySnapshot)}
    changes: dict[str, Any] = {}
    for assignment in assignments:
        key, separator, raw = assignment.partition("=")
        if not separator or not key:
            raise PolicyError(f"{assignment!r}: use key=value")
        if key not in fields:
            raise PolicyError(f"unknown policy key {key!r} (known: {', '.join(sorted(fields))})")
        value: Any = None if raw.lower() in {"none", "null", ""} else raw
        if key == "modalities" and value is not None:
            value = [part.strip() for part in raw.split(",") if part.strip()]
        try:
            changes[key] = msgspec.convert(value, fields[key], strict=False)
        except msgspec.ValidationError as exc:
            raise PolicyError(f"{key}={raw!r}: {exc}") from exc
    return changes


def candidate(
    state: PolicyState, proposed: PolicySnapshot, *, patient_id: str, actor: str, reason: str
) -> PolicyVersion:
    """The next version after ``state``, with the audit entry the rule checks it against."""
    old, new = audited_changes(state.policy, proposed)
    now_ns = time.time_ns()
    entry = AuditEntry(
        patient_id=patient_id,
        producer_id=PRODUCER_ID,
        gateway_time_ns=now_ns,
        actor=actor,
        action=SET_ACTION,
        target=audit_target(state.version, state.version + 1),
        old=old,
        new=new,
        reason=reason,
    )
    return PolicyVersion(
        patient_id=patient_id,
        producer_id=PRODUCER_ID,
        gateway_time_ns=now_ns,
        version=state.version + 1,
        policy=proposed,
        changed_by=actor,
        change_reason=reason,
        audit=entry,
    )


async def change(
    settings: KafkaSettings,
    *,
    patient_id: str,
    assignments: list[str],
    actor: str,
    reason: str,
    default: PolicySnapshot,
) -> tuple[PolicyVersion, AuditEntry]:
    """:func:`publish_change`, for callers that need only the version and its audit entry."""
    published = await publish_change(
        settings,
        patient_id=patient_id,
        assignments=assignments,
        actor=actor,
        reason=reason,
        default=default,
    )
    return published.version, published.entry


async def publish_change(
    settings: KafkaSettings,
    *,
    patient_id: str,
    assignments: list[str],
    actor: str,
    reason: str,
    default: PolicySnapshot,
) -> Published:
    """Validate and publish a policy change; refuse it (PolicyError) outside the safe ranges
    or with an actor or reason that is not plain text.

    Raises :class:`LostRaceError` when every try lost its version number to other writers.
    """
    problems = text_problems(actor, reason)
    if problems:
        raise PolicyError("; ".join(problems))
    changes = parse_assignments(assignments)
    topic = settings.topics.name("policy")
    idempotence = await bounded(
        choose_idempotence(settings, timeout_s=TIMEOUTS.connect_s),
        TIMEOUTS.connect_s,
        "the policy writer's producer-id question",
    )
    producer = AIOKafkaProducer(
        client_id=PRODUCER_ID,
        acks="all",
        enable_idempotence=idempotence.enabled,  # where offered; the rule dedupes by id anyway
        request_timeout_ms=TIMEOUTS.request_ms,
        **settings.client_kwargs(),
    )
    try:
        await bounded(producer.start(), TIMEOUTS.connect_s, "the policy writer's start")
        log = await history(settings, patient_id, default)
        lost: list[str] = []
        for _ in range(MAX_ATTEMPTS):
            proposed = with_changes(log.state.policy, changes)
            version = candidate(
                log.state, proposed, patient_id=patient_id, actor=actor, reason=reason
            )
            assert version.audit is not None
            if not version.audit.new:
                based = f" (after {'; '.join(lost)})" if lost else ""
                raise PolicyError(f"the change leaves the policy as it is{based}")
            written = await bounded(
                producer.send_and_wait(
                    topic, encode_event(version), key=patient_id.encode("ascii")
                ),
                TIMEOUTS.flush_s,
                "a policy version's write",
            )
            records = await read_records(
                settings,
                topic,
                partitions=[written.partition],
                through={written.partition: written.offset},
            )
            log = current_policy(_patient_versions(records, patient_id), default)
            why = log.verdict(version.event_id)
            if why == "":
                await bounded(
                    producer.send_and_wait(
                        settings.topics.for_event(AuditEntry),
                        encode_event(version.audit),
                        key=patient_id.encode("ascii"),
                    ),
                    TIMEOUTS.flush_s,
                    "an audit entry's write",
                )
                return Published(version, version.audit, tuple(lost))
            if why is None or not why.startswith("lost the race"):
                raise PolicyError(f"v{version.version} was refused: {why or 'not found'}")
            lost.append(why)
        raise LostRaceError(f"{lost[-1]}; retry")
    finally:
        await _stop_quietly(producer)
