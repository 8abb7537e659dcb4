"""The spooling producer: delivers through the spool, and keeps events on disk while the broker
cannot be reached."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from stream.broker import free_loopback_port
from stream.codec import decode_event
from stream.errors import StreamError
from stream.events import Event, StreamGap
from stream.settings import KafkaSettings
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from tests.conftest import isolated_settings
from tests.helpers import stream_gap
from vagus.demo import create_topics


class Delivered:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def on_delivered(self, topic: str, event: Event) -> None:
        self.ids.append(event.event_id)


def _producer(settings: KafkaSettings, state: Path, ledger: Delivered) -> SpoolingProducer:
    return SpoolingProducer(
        settings,
        producer_id="spool-test",
        spool=Spool(state / "spool", SpoolSettings(fsync="never")),
        sensors=[ledger],
        status_path=state / "status.json",
        request_timeout_ms=500,
        retry_interval_s=0.1,
    )


async def test_unreachable_broker_keeps_events_spooled_across_restarts(tmp_path: Path) -> None:
    settings = isolated_settings(f"127.0.0.1:{free_loopback_port()}")  # nobody listens
    ledger = Delivered()
    producer = _producer(settings, tmp_path, ledger)
    await producer.start()
    for second in range(5):
        await producer.send(stream_gap(second, producer_id="spool-test"))
    await producer.flush()  # returns: the broker is known unreachable, events are on disk
    assert producer.broker_reachable is False and len(producer.spool) == 5
    # outcomes too: spooled, not blocking forever
    await producer.send_and_wait(stream_gap(5, producer_id="spool-test"))
    await producer.stop(drain_timeout_s=0.2)
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["broker_reachable"] is False and status["spool"]["events"] == 6
    assert status["last_event_sent_ns"] is None and ledger.ids == []
    again = _producer(settings, tmp_path, ledger)
    assert len(again.spool) == 6
    again.spool.close()


@pytest.mark.broker
async def test_events_are_delivered_in_order_and_reported(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    await create_topics(kafka)
    ledger = Delivered()
    producer = _producer(kafka, tmp_path, ledger)
    await producer.start()
    sent = [stream_gap(second, producer_id="spool-test") for second in range(20)]
    for event in sent:
        await producer.send(event)
    await producer.flush()
    assert len(producer.spool) == 0 and producer.broker_reachable is True
    assert ledger.ids == [e.event_id for e in sent]
    await producer.stop()
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["delivered"] == 20 and status["last_event_sent_ns"] is not None
    consumer = AIOKafkaConsumer(
        kafka.topics.for_event(StreamGap), auto_offset_reset="earliest", **kafka.client_kwargs()
    )
    await consumer.start()
    try:
        received: list[str] = []
        while len(received) < 20:
            batches = await consumer.getmany(timeout_ms=2000)
            assert batches, "no more records"
            for records in batches.values():
                received.extend(decode_event(r.value).event_id for r in records if r.value)
    finally:
        await consumer.stop()
    assert received == [e.event_id for e in sent]


async def test_a_dead_forwarder_is_raised_by_flush_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = isolated_settings(f"127.0.0.1:{free_loopback_port()}")
    producer = _producer(settings, tmp_path, Delivered())

    def broken_peek(limit: int) -> list[object]:
        raise RuntimeError("disk vanished")

    monkeypatch.setattr(producer.spool, "peek", broken_peek)
    await producer.start()
    await producer.send(stream_gap(0, producer_id="spool-test"))
    await asyncio.sleep(0.2)  # the forwarder's next look at the spool fails
    with pytest.raises(StreamError, match="forwarder failed"):
        await producer.flush()
    assert "disk vanished" in caplog.text
    await producer.stop(drain_timeout_s=0.1)  # still closes everything
    reopened = Spool(tmp_path / "spool", SpoolSettings(fsync="never"))
    assert len(reopened) == 1
    reopened.close()
