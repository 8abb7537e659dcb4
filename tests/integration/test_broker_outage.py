"""Broker outage: the broker stops for 60 s of stream time mid-run and comes back; every event
arrives afterwards, in order per patient, none lost - and the gateway's producer is restarted
in the middle of the outage, so the spool must survive that too.

The embedded broker keeps its data in memory only, so a stopped broker loses everything it held
(checked below). The "returning" broker is therefore a fresh one on the same port, and the test
reads what the first one delivered before stopping it. A real Kafka keeps its log; nothing in
the spool depends on either behaviour.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from stream.broker import EmbeddedBroker, free_loopback_port
from stream.codec import decode_event
from stream.events import Event, StreamGap
from stream.settings import KafkaSettings
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from tests.conftest import isolated_settings
from vagus.demo import create_topics

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PATIENTS = ["p-0000000000a1", "p-0000000000b2", "p-0000000000c3"]
STREAM_S = 180  # one event per patient per second of stream time
OUTAGE = (60, 120)  # broker down for these 60 s of stream time
RESTART_AT = 90  # the producer (gateway) restarts during the outage
WALL_PER_STREAM_S = 0.05  # 20x faster than real time


class Delivered:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def on_delivered(self, topic: str, event: Event) -> None:
        self.ids.append(event.event_id)


def _event(patient: str, second: int) -> StreamGap:
    t = 1_700_000_000_000_000_000 + second * 1_000_000_000
    return StreamGap(
        patient_id=patient,
        producer_id="outage-test",
        gateway_time_ns=t,
        device_id="d-00000000",
        stream="ecg",
        gap_start_ns=t - 1,
        gap_end_ns=t,
        reason="disconnected",
    )


async def _consume_all(
    settings: KafkaSettings, expected: set[str], timeout_s: float
) -> list[Event]:
    """Read the event topic from the beginning until ``expected`` ids were all seen."""
    consumer = AIOKafkaConsumer(
        settings.topics.for_event(StreamGap),
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        **settings.client_kwargs(),
    )
    await consumer.start()
    events: list[Event] = []
    try:
        deadline = time.monotonic() + timeout_s
        while not expected <= {e.event_id for e in events} and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                events.extend(decode_event(r.value) for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return events


def _producer(settings: KafkaSettings, spool_dir: Path, ledger: Delivered) -> SpoolingProducer:
    return SpoolingProducer(
        settings,
        producer_id="outage-test",
        spool=Spool(spool_dir, SpoolSettings(fsync="interval")),
        sensors=[ledger],
        status_path=spool_dir.parent / "status.json",
        request_timeout_ms=1000,
        retry_interval_s=0.2,
    )


async def test_events_survive_a_broker_outage_and_a_gateway_restart(tmp_path: Path) -> None:
    started = time.monotonic()
    port = free_loopback_port()
    first = EmbeddedBroker(port=port)
    settings = isolated_settings(first.start()).for_embedded_broker(f"127.0.0.1:{port}")
    second = EmbeddedBroker(port=port)
    spool_dir = tmp_path / "spool"
    ledger = Delivered()
    sent: list[StreamGap] = []
    producer = _producer(settings, spool_dir, ledger)
    try:
        await create_topics(settings)
        await producer.start()
        before: list[Event] = []
        for second_of_stream in range(STREAM_S):
            if second_of_stream == OUTAGE[0]:
                await producer.flush()
                before = await _consume_all(settings, set(ledger.ids), 30)
                first.stop()
            if second_of_stream == RESTART_AT:
                assert producer.broker_reachable is False and len(producer.spool) > 0
                waiting = len(producer.spool)
                await producer.stop(drain_timeout_s=0.5)  # the gateway restarts...
                producer = _producer(settings, spool_dir, ledger)  # ...and finds its spool
                assert len(producer.spool) == waiting
                await producer.start()
            if second_of_stream == OUTAGE[1]:
                second.start()
                await create_topics(settings)
            for patient in PATIENTS:
                event = _event(patient, second_of_stream)
                sent.append(event)
                await producer.send(event)
            await asyncio.sleep(WALL_PER_STREAM_S)
        await asyncio.wait_for(producer.flush(), 60)
        assert len(producer.spool) == 0 and producer.broker_reachable
        after = await _consume_all(
            settings, {e.event_id for e in sent} - {e.event_id for e in before}, 60
        )
    finally:
        await producer.stop()
        first.stop()
        second.stop()

    received: dict[str, list[int]] = {p: [] for p in PATIENTS}
    seen: set[str] = set()
    duplicates = 0
    for read in before + after:  # the order each consumer read them in
        if read.event_id in seen:
            duplicates += 1
            continue
        seen.add(read.event_id)
        received[read.patient_id].append(read.gateway_time_ns)
    expected = {p: [e.gateway_time_ns for e in sent if e.patient_id == p] for p in PATIENTS}
    assert seen == {e.event_id for e in sent}, f"lost {len({e.event_id for e in sent} - seen)}"
    assert received == expected  # per patient: every event, in the order it was produced
    # the second broker started empty (memory storage): nothing read before is read again
    assert not {e.event_id for e in before} & {e.event_id for e in after}
    assert '"last_event_sent_ns"' in (tmp_path / "status.json").read_text()
    wall = time.monotonic() - started
    print(
        f"outage: {len(sent)} events, {len(before)} before the outage, {len(after)} after, "
        f"{duplicates} duplicates dropped, wall {wall:.1f} s"
    )
    assert wall < 90
