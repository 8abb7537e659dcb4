"""Policies and their audit trail live on Kafka topics; this module reads and changes them.

Every change is a new, numbered, immutable :class:`PolicyVersion` plus an :class:`AuditEntry`
saying who changed what from which value to which, and why. Nothing is edited in place, so the
history a clinician reads is the history the loop acted on. A patient without a version runs on
the configured default, shown as version 0; the first change writes version 1 as a full snapshot.

Reading "the whole topic" stops at each partition's high watermark as reported by fetch
responses, not at ListOffsets (which the bundled broker answers wrongly; see docs/broker.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from closedloop.policy import PolicyError, with_changes
from stream.codec import decode_event
from stream.errors import SchemaError
from stream.events import AnyEvent, AuditEntry, PolicySnapshot, PolicyVersion
from stream.producer import EventProducer
from stream.settings import KafkaSettings

READ_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class PolicyState:
    """A patient's current policy and the version it carries (0: the configured default)."""

    version: int
    policy: PolicySnapshot


async def read_topic(settings: KafkaSettings, topic: str) -> list[AnyEvent]:
    """Every valid event on ``topic``, from the beginning to the current end.

    Invalid messages are skipped here (the consumers that own the topic dead-letter them).
    """
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        **settings.client_kwargs(),
    )
    await consumer.start()
    events: list[AnyEvent] = []
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(READ_TIMEOUT_S):
            while True:
                batches = await consumer.getmany(*partitions, timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        try:
                            events.append(decode_event(record.value or b""))
                        except SchemaError:
                            continue
                if all([await _at_end(consumer, tp) for tp in partitions]):
                    return events
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, partition: TopicPartition) -> bool:
    """True once a fetch response has given the high watermark and we have read up to it."""
    high = consumer.highwater(partition)
    return high is not None and await consumer.position(partition) >= high


async def history(settings: KafkaSettings, patient_id: str) -> list[PolicyVersion]:
    events = await read_topic(settings, settings.topics.name("policy"))
    versions = [e for e in events if isinstance(e, PolicyVersion) and e.patient_id == patient_id]
    return sorted(versions, key=lambda v: v.version)


async def audit_trail(settings: KafkaSettings, patient_id: str) -> list[AuditEntry]:
    events = await read_topic(settings, settings.topics.name("audit"))
    return [e for e in events if isinstance(e, AuditEntry) and e.patient_id == patient_id]


def current(versions: list[PolicyVersion], default: PolicySnapshot) -> PolicyState:
    if not versions:
        return PolicyState(0, default)
    latest = versions[-1]
    return PolicyState(latest.version, latest.policy)


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


async def change(
    settings: KafkaSettings,
    *,
    patient_id: str,
    assignments: list[str],
    actor: str,
    reason: str,
    default: PolicySnapshot,
) -> tuple[PolicyVersion, AuditEntry]:
    """Validate and publish a policy change; refuse it (PolicyError) outside the safe ranges."""
    changes = parse_assignments(assignments)
    state = current(await history(settings, patient_id), default)
    proposed = with_changes(state.policy, changes)
    old = msgspec.structs.asdict(state.policy)
    new = msgspec.structs.asdict(proposed)
    changed = {key for key in new if new[key] != old[key]}
    if not changed:
        raise PolicyError("the change leaves the policy as it is")
    version = PolicyVersion(
        patient_id=patient_id,
        producer_id="vagus-policy-cli",
        gateway_time_ns=time.time_ns(),
        version=state.version + 1,
        policy=proposed,
        changed_by=actor,
        change_reason=reason,
    )
    entry = AuditEntry(
        patient_id=patient_id,
        producer_id="vagus-policy-cli",
        gateway_time_ns=version.gateway_time_ns,
        actor=actor,
        action="policy.set",
        target=f"policy v{state.version} -> v{version.version}",
        old={key: str(old[key]) for key in sorted(changed)},
        new={key: str(new[key]) for key in sorted(changed)},
        reason=reason,
    )
    producer = EventProducer(settings, producer_id="vagus-policy-cli")
    await producer.start()
    try:
        await producer.send(version)
        await producer.send(entry)
    finally:
        await producer.stop()
    return version, entry
