"""Every input the closed loop reads ends decided or dead-lettered, whatever its bytes and size.

Seen on an earlier build: a 900 KB message on `stress` made a dead letter (the whole payload,
base64) larger than the producer's request size; the worker's agent crashed, the offset was
committed anyway and the stats said nothing failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import given, settings
from hypothesis import strategies as st

from closedloop.app import ClosedLoopWorker
from stream.codec import encode_event
from stream.events import DeadLetter, Event, InterventionCommand
from stream.gate import MAX_DEAD_LETTER_PAYLOAD, Admitted, Duplicate, MessageGate, Rejected
from stream.settings import KafkaSettings
from tests.closedloop.test_worker import PATIENT, _collect, episode_start
from tests.helpers import EnrolledGateway, worker_process
from vagus.demo import create_topics

#: The broker's default largest message (message.max.bytes, about 1 MiB).
BROKER_MAX_MESSAGE = 1_048_588


def _check(gate: MessageGate, value: bytes | None, key: bytes | None = None) -> object:
    return gate.check(topic="vagus.stress", partition=0, offset=7, key=key, value=value)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.none(), st.binary(max_size=4096)), key=st.none() | st.binary(max_size=64))
def test_any_bytes_are_admitted_or_dead_lettered(value: bytes | None, key: bytes | None) -> None:
    verdict = _check(MessageGate(consumer_id="t"), value, key)
    assert isinstance(verdict, Admitted | Rejected)
    if isinstance(verdict, Rejected):
        letter = verdict.dead_letter
        assert letter.payload == (value or b"")  # small payloads are kept whole
        assert letter.payload_size == len(value or b"") and not letter.payload_truncated
        assert letter.payload_sha256 == hashlib.sha256(value or b"").hexdigest()


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, BROKER_MAX_MESSAGE), seed=st.integers(0, 2**32 - 1))
def test_a_dead_letter_always_fits_the_broker_whatever_the_size(size: int, seed: int) -> None:
    value = random.Random(seed).randbytes(size)
    verdict = _check(MessageGate(consumer_id="t"), value, b"p-0123456789ab")
    assert isinstance(verdict, Rejected)
    letter = verdict.dead_letter
    assert len(encode_event(letter)) < BROKER_MAX_MESSAGE // 8
    assert letter.payload == value[:MAX_DEAD_LETTER_PAYLOAD]
    assert letter.payload_truncated == (size > MAX_DEAD_LETTER_PAYLOAD)
    assert (letter.payload_size, letter.payload_sha256) == (
        size,
        hashlib.sha256(value).hexdigest(),
    )


@pytest.mark.broker
async def test_a_handling_failure_is_dead_lettered_counted_and_the_worker_goes_on(
    kafka: KafkaSettings, monkeypatch: pytest.MonkeyPatch, enrolled: EnrolledGateway
) -> None:
    """In process: the handler raises on the first valid event; it becomes a dead letter, the
    stats count it, and the next event is decided as usual."""
    worker = ClosedLoopWorker(kafka, enrolment_file=enrolled.registry)
    sent: list[Event] = []

    async def send(event: Event) -> None:
        sent.append(event)

    async def loaded(partition: int) -> None:
        return None

    monkeypatch.setattr(worker, "_send", send)
    monkeypatch.setattr(worker.table, "ensure_loaded", loaded)
    original = worker.handler.handle
    calls = 0

    def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in the handler")
        return original(*args, **kwargs)

    monkeypatch.setattr(worker.handler, "handle", flaky)
    first, second = episode_start(), episode_start()

    async def records() -> Any:
        for offset, event in enumerate([first, second]):
            message = SimpleNamespace(
                topic=kafka.topics.name("stress"),
                partition=0,
                offset=offset,
                key=PATIENT.encode(),
                value=enrolled.sign(event),
            )
            yield SimpleNamespace(message=message)

    await worker._decide(SimpleNamespace(events=records))
    letters = [e for e in sent if isinstance(e, DeadLetter)]
    assert len(letters) == 1 and "handling failed: RuntimeError" in letters[0].error
    assert letters[0].offset == 0 and letters[0].payload == enrolled.sign(first)
    assert worker.stats.handling_failures == 1 and worker.stats.dead_lettered == 1
    assert any(isinstance(e, InterventionCommand) for e in sent)  # the second was decided
    assert isinstance(_check(worker.gate, enrolled.sign(second)), Duplicate)


@pytest.mark.broker
@pytest.mark.slow
async def test_a_900_kb_message_is_dead_lettered_and_the_worker_decides_on(
    kafka: KafkaSettings, tmp_path: Path, enrolled: EnrolledGateway
) -> None:
    kafka = msgspec.structs.replace(kafka, fetch_max_wait_ms=20)
    await create_topics(kafka)
    huge = random.Random(9).randbytes(900_000)
    with worker_process(kafka, enrolled, tmp_path) as (worker, stats_path):
        producer = AIOKafkaProducer(max_request_size=2_000_000, **kafka.client_kwargs())
        await producer.start()
        try:
            stress = kafka.topics.name("stress")
            await producer.send_and_wait(stress, huge, key=PATIENT.encode())
            start = episode_start()
            await producer.send_and_wait(stress, enrolled.sign(start), key=PATIENT.encode())
            events = await _collect(
                kafka, [kafka.topics.name(t) for t in ("commands", "deadletter")], wanted=2
            )
            await asyncio.sleep(1.0)  # the stats file is rewritten every 0.5 s
        finally:
            await producer.stop()
    (letter,) = [e for e in events if isinstance(e, DeadLetter)]
    assert letter.payload_truncated and letter.payload_size == len(huge)
    assert letter.payload_sha256 == hashlib.sha256(huge).hexdigest()
    assert letter.payload == huge[:MAX_DEAD_LETTER_PAYLOAD]
    (command,) = [e for e in events if isinstance(e, InterventionCommand)]
    assert command.reason.trigger_event_id == start.event_id  # the worker went on
    stats = json.loads(stats_path.read_text())
    assert stats["dead_lettered"] == 1
    assert worker.returncode == 0
