"""The worker's producer is idempotent on Apache Kafka and plain on the embedded broker, and
it decides either way (its stats file says which, and why)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream.codec import decode_event
from stream.events import LoopDecision
from stream.settings import KafkaSettings
from tests.closedloop.test_worker import PATIENT, episode_start
from tests.helpers import EnrolledGateway, worker_process
from vagus.demo import create_topics

pytestmark = [pytest.mark.broker, pytest.mark.slow]


async def _stats_when_ready(path: Path) -> dict[str, object]:
    async with asyncio.timeout(90):
        while True:
            try:
                stats: dict[str, object] = json.loads(await asyncio.to_thread(path.read_text))
            except (OSError, ValueError):
                stats = {}
            if stats.get("ready"):
                return stats
            await asyncio.sleep(0.2)


async def _a_decision(kafka: KafkaSettings) -> LoopDecision:
    consumer = AIOKafkaConsumer(
        kafka.topics.name("decisions"), auto_offset_reset="earliest", **kafka.client_kwargs()
    )
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = decode_event(record.value or b"")
                        if isinstance(event, LoopDecision):
                            return event
    finally:
        await consumer.stop()


async def test_the_worker_producer_is_idempotent_where_offered(
    kafka: KafkaSettings,
    tmp_path: Path,
    enrolled: EnrolledGateway,
    request: pytest.FixtureRequest,
) -> None:
    if os.environ.get("VAGUS_TEST_BOOTSTRAP"):
        pytest.skip("the external test broker's kind is unknown")
    apache = request.node.callspec.params["kafka_bootstrap"] == "kafka"
    await create_topics(kafka)
    with worker_process(kafka, enrolled, tmp_path) as (_worker, stats_path):
        stats = await _stats_when_ready(stats_path)
        producer = AIOKafkaProducer(**kafka.client_kwargs())
        await producer.start()
        try:
            start = episode_start()
            await producer.send_and_wait(
                kafka.topics.name("stress"), enrolled.sign(start), key=PATIENT.encode()
            )
        finally:
            await producer.stop()
        decision = await _a_decision(kafka)
    assert decision.trigger_event_id == start.event_id
    assert stats["idempotent_producer"] is apache
    reason = str(stats["idempotence_reason"])
    assert ("grants producer ids" if apache else "refuses producer ids") in reason, reason
