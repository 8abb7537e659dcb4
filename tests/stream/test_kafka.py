"""Producer, consumer, dead letters and deduplication against each broker (the embedded one and
Apache Kafka)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from stream.codec import decode_event, encode_event
from stream.events import AnyEvent, DeadLetter
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from stream.topics import ensure_topics
from tests.helpers import PATIENT, collecting_consumer, stress_score
from vagus.demo import create_topics

pytestmark = pytest.mark.broker


async def _create(kafka: KafkaSettings) -> list[str]:
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        created = await ensure_topics(
            admin, kafka.topics.all(), partitions=kafka.partitions, replication_factor=1
        )
        # Apache Kafka creates a topic asynchronously: its metadata can list no partitions yet
        stress = kafka.topics.name("stress")
        async with asyncio.timeout(15):
            while not (partitions := (await admin.describe_topics([stress]))[0]["partitions"]):
                await asyncio.sleep(0.1)
        assert len(partitions) == kafka.partitions
        again = await ensure_topics(admin, kafka.topics.all(), partitions=4, replication_factor=1)
        assert again == []
        return created
    finally:
        await admin.close()


async def test_topics_are_created_explicitly(kafka: KafkaSettings) -> None:
    created = await _create(kafka)
    assert sorted(created) == kafka.topics.all()


async def test_delivery_dead_letters_and_dedupe(kafka: KafkaSettings) -> None:
    await _create(kafka)
    producer = EventProducer(kafka, producer_id="test")
    await producer.start()
    raw = AIOKafkaProducer(**kafka.client_kwargs())
    await raw.start()
    try:
        async with collecting_consumer(kafka, producer, "test-group") as (consumer, received):
            events = [stress_score(i) for i in range(300)]
            for event in events:
                await producer.send(event)
            await producer.flush()
            topic = kafka.topics.name("stress")
            # At-least-once delivery can repeat a message: the consumer must drop the repeats.
            for event in events[:50]:
                await raw.send_and_wait(topic, encode_event(event), key=PATIENT.encode())
            await raw.send_and_wait(topic, b"\x00not json", key=PATIENT.encode())
            await raw.send_and_wait(topic, b'{"type":"stress_score"}', key=b"garbage key")
            async with asyncio.timeout(20):
                while consumer.counters.received < 352:
                    await asyncio.sleep(0.05)
        assert [e.event_id for e in received] == [e.event_id for e in events]
        assert consumer.counters.duplicates == 50
        assert consumer.counters.dead_lettered == 2
        letters = await _read_all(kafka, kafka.topics.name("deadletter"), 2)
        assert all(isinstance(letter, DeadLetter) for letter in letters)
        reasons = sorted(letter.error for letter in letters if isinstance(letter, DeadLetter))
        assert any("not a JSON event" in r for r in reasons)
        assert any("invalid event" in r for r in reasons)
        payloads = {letter.payload for letter in letters if isinstance(letter, DeadLetter)}
        assert b"\x00not json" in payloads  # kept whole, nothing silently dropped
    finally:
        await raw.stop()
        await producer.stop()


async def test_topics_take_writes_as_soon_as_they_are_created(kafka: KafkaSettings) -> None:
    """Apache Kafka elects a new topic's leaders asynchronously: without the wait in
    create_topics, a first write with a 1 s request timeout failed (UnknownTopicOrPartition,
    then NotLeaderForPartition; 3 of 3 tries on one local node)."""
    await create_topics(kafka)
    producer = AIOKafkaProducer(request_timeout_ms=1000, acks="all", **kafka.client_kwargs())
    await producer.start()
    try:
        for topic in kafka.topics.all():
            for partition in range(kafka.partitions):
                # keyed: a compacted topic (loopstate) refuses records without a key
                await producer.send_and_wait(topic, b"first", key=b"k", partition=partition)
    finally:
        await producer.stop()


async def _read_all(kafka: KafkaSettings, topic: str, count: int) -> list[AnyEvent]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **kafka.client_kwargs())
    await consumer.start()
    events: list[AnyEvent] = []
    try:
        async with asyncio.timeout(20):
            while len(events) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    events.extend(decode_event(r.value) for r in records if r.value)
    finally:
        await consumer.stop()
    return events
