"""The faust worker as a process against the real broker: decisions, reasons, dead letters."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from closedloop import policy_store
from closedloop.policy import DEFAULT_POLICY
from stream.codec import decode_event
from stream.events import (
    AnyEvent,
    DeadLetter,
    InterventionCommand,
    LoopDecision,
    StressEpisode,
)
from stream.ids import new_event_id
from stream.settings import KafkaSettings
from stream.topics import ensure_topics
from tests.helpers import EnrolledGateway

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PATIENT = "p-0123456789ab"
NOON = int(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC).timestamp() * 1e9)
ROOT = Path(__file__).resolve().parents[2]


def episode_start() -> StressEpisode:
    """A stress episode's start well above the default threshold: the loop decides on it."""
    return StressEpisode(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=NOON,
        episode_id=new_event_id(),
        phase="start",
        started_at_ns=NOON,
        score=0.93,
        trigger_window_id=new_event_id(),
        components={"z_hr": 5.0},
    )


async def _collect(kafka: KafkaSettings, topics: list[str], wanted: int) -> list[AnyEvent]:
    consumer = AIOKafkaConsumer(*topics, auto_offset_reset="earliest", **kafka.client_kwargs())
    await consumer.start()
    events: list[AnyEvent] = []
    try:
        async with asyncio.timeout(60):
            while len(events) < wanted:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    events.extend(decode_event(r.value) for r in records if r.value)
    finally:
        await consumer.stop()
    return events


async def test_worker_decides_explains_and_dead_letters(
    kafka: KafkaSettings, tmp_path: Path, enrolled: EnrolledGateway
) -> None:
    kafka = msgspec.structs.replace(kafka, fetch_max_wait_ms=20)
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    await ensure_topics(admin, kafka.topics.all(), partitions=4, replication_factor=1)
    await admin.close()
    config_path = tmp_path / "config.json"
    config_path.write_bytes(msgspec.json.encode(enrolled.config(kafka)))
    # A clinician's policy published before the worker starts: the worker must read it first.
    await policy_store.change(
        kafka,
        patient_id=PATIENT,
        assignments=["score_threshold=0.9"],
        actor="clinician:c-1",
        reason="test",
        default=DEFAULT_POLICY,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "vagus", "--config", str(config_path), "closedloop"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    producer = AIOKafkaProducer(**kafka.client_kwargs())
    await producer.start()
    try:
        stress = kafka.topics.name("stress")
        await producer.send_and_wait(stress, b"{broken", key=PATIENT.encode())
        start = episode_start()
        await producer.send_and_wait(stress, enrolled.sign(start), key=PATIENT.encode())
        await producer.send_and_wait(stress, enrolled.sign(start), key=PATIENT.encode())  # repeat
        events = await _collect(
            kafka,
            [kafka.topics.name(t) for t in ("commands", "decisions", "deadletter")],
            wanted=3,
        )
    finally:
        await producer.stop()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    by_type: dict[type, list[AnyEvent]] = {}
    for event in events:
        by_type.setdefault(type(event), []).append(event)
    (command,) = by_type[InterventionCommand]
    assert isinstance(command, InterventionCommand)
    assert command.reason.trigger_event_id == start.event_id
    assert command.reason.values["z_hr"] == 5.0
    (decision,) = by_type[LoopDecision]  # the repeated episode start was dropped by event id
    assert isinstance(decision, LoopDecision) and decision.command_id == command.event_id
    (letter,) = by_type[DeadLetter]
    assert isinstance(letter, DeadLetter)
    assert letter.payload == b"{broken" and letter.patient_id == PATIENT
    assert "not a JSON event" in letter.error
    assert command.policy_version == 1  # the clinician's version, read at start-up
    assert command.reason.values["threshold"] == 0.9
    assert worker.returncode == 0
