"""Broker outage: the broker stops for 60 s of stream time mid-run and comes back; every event
arrives afterwards, in order per patient, none lost - and the gateway's producer is restarted
in the middle of the outage, so the spool must survive that too.

On both brokers (tests/broker_fixtures.py). The test reads what the broker delivered before
stopping it. A real Kafka node is stopped and started again on its port and storage, and comes
back with its log: the read after the outage finds the earlier events again. The embedded
broker keeps its data in memory only, so the "returning" broker is a fresh one on the same port,
empty: its topics are auto-created (4 partitions, as configured) when the spool drains into it.
Nothing in the spool depends on either behaviour.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from hardware.devices import SimulatedDevice
from ingest.recording import DeviceRecord
from ingest.replay import ReplayClock, Speed, open_recording, replay
from stream.codec import decode_event
from stream.events import Event, StreamGap
from stream.settings import KafkaSettings
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from tests.broker_fixtures import OutageBroker
from tests.conftest import isolated_settings
from tests.helpers import stream_gap
from vagus.config import VagusConfig
from vagus.demo import DEFAULT_RECORDING, create_topics
from vagus.gateway import Gateway

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PATIENTS = ["p-0000000000a1", "p-0000000000b2", "p-0000000000c3"]
STREAM_S = 180  # one event per patient per second of stream time
OUTAGE = (60, 120)  # broker down for these 60 s of stream time
RESTART_AT = 90  # the producer (gateway) restarts during the outage
WALL_PER_STREAM_S = 0.05  # 20x faster than real time
GATEWAY_OUTAGE = (120, 180)
GATEWAY_STREAM_S = 260


class Delivered:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def on_delivered(self, topic: str, event: Event) -> None:
        self.ids.append(event.event_id)


async def _consume_all(
    settings: KafkaSettings, expected: set[str], timeout_s: float, *, topics: list[str]
) -> list[Event]:
    """Read ``topics`` from the beginning until ``expected`` ids were all seen."""
    consumer = AIOKafkaConsumer(
        *topics,
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


async def _until_drained(producer: SpoolingProducer, timeout_s: float) -> None:
    """flush() also returns while the broker is unreachable (events then wait on disk): a
    retry after the broker's return may still be pending, so wait for the spool to empty."""
    async with asyncio.timeout(timeout_s):
        while len(producer.spool):
            await producer.flush()
            await asyncio.sleep(0.05)


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


async def test_events_survive_a_broker_outage_and_a_gateway_restart(
    tmp_path: Path, outage_broker: OutageBroker
) -> None:
    bootstrap = outage_broker.start()
    started = time.monotonic()  # from the broker's start: a Kafka node takes seconds to start
    settings = isolated_settings(bootstrap).for_embedded_broker(bootstrap)
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
                await _until_drained(producer, 30)  # all of the stream so far: delivered
                before = await _consume_all(
                    settings, set(ledger.ids), 30, topics=[settings.topics.for_event(StreamGap)]
                )
                assert len({e.event_id for e in before}) == len(PATIENTS) * OUTAGE[0]
                outage_broker.go_down()
            if second_of_stream == RESTART_AT:
                # the forwarder notices within its send round's timeout (longer than this
                # test's 1.5 s of wall time when the idempotent producer is retrying)
                async with asyncio.timeout(30):
                    while producer.broker_reachable is not False:
                        await asyncio.sleep(0.1)
                assert len(producer.spool) > 0
                waiting = len(producer.spool)
                await producer.stop(drain_timeout_s=0.5)  # the gateway restarts...
                producer = _producer(settings, spool_dir, ledger)  # ...and finds its spool
                assert len(producer.spool) == waiting
                await producer.start()
            if second_of_stream == OUTAGE[1]:
                outage_broker.come_back()
            for patient in PATIENTS:
                event = stream_gap(second_of_stream, producer_id="outage-test", patient_id=patient)
                sent.append(event)
                await producer.send(event)
            await asyncio.sleep(WALL_PER_STREAM_S)
        await _until_drained(producer, 60)
        assert len(producer.spool) == 0 and producer.broker_reachable
        after = await _consume_all(
            settings,
            {e.event_id for e in sent} - {e.event_id for e in before},
            60,
            topics=[settings.topics.for_event(StreamGap)],
        )
    finally:
        await producer.stop()

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
    if outage_broker.keeps_log:  # read again from the beginning: the log is whole
        assert {e.event_id for e in after} == seen
    else:  # the second broker started empty (memory storage): nothing read before is read again
        assert not {e.event_id for e in before} & {e.event_id for e in after}
    assert '"last_event_sent_ns"' in (tmp_path / "status.json").read_text()
    wall = time.monotonic() - started
    print(
        f"outage: {len(sent)} events, {len(before)} before the outage, {len(after)} after, "
        f"{duplicates} duplicates dropped, wall {wall:.1f} s"
    )
    assert wall < 90


#: Open on the embedded broker only: on Apache Kafka (a node stopped and started again on its
#: storage) the same test passes.
EMBEDDED_OUTAGE_DEFECT = (
    "embedded broker defect (issue 13; docs/broker.md): the spool's client, its send in flight "
    "through the 3 s outage, reconnects by itself to the fresh, empty tansu and never sees a "
    "failure, so nothing tells the gateway to create its topics again; tansu acknowledges the "
    "writes to topics it no longer has and drops them (14 of 14 windows after the outage). On "
    "Apache Kafka every event arrives."
)


async def test_the_gateway_itself_rides_out_an_outage(
    tmp_path: Path, outage_broker: OutageBroker, request: pytest.FixtureRequest
) -> None:
    """The real Gateway (decoders, pipeline, command consumer, spooling producer) replaying the
    demo recording at 20x: the broker is down from 120 s to 180 s of stream time (the first
    windows close after 60 s); every event the gateway produced arrives, in production order
    per patient and topic."""
    if outage_broker.kind == "embedded":  # strict: a pass on the embedded broker fails, to be seen
        request.applymarker(pytest.mark.xfail(strict=True, reason=EMBEDDED_OUTAGE_DEFECT))
    bootstrap = outage_broker.start()
    settings = isolated_settings(bootstrap).for_embedded_broker(bootstrap)
    reader = open_recording(DEFAULT_RECORDING)
    start_ns = reader.header.start_time_ns
    clock = ReplayClock(Speed(20.0))
    gateway = Gateway(
        kafka=settings,
        config=VagusConfig(),
        patient_id=reader.header.patient_id,
        devices={d.device_id: d for d in reader.header.devices},
        clock=clock,
        output_device=SimulatedDevice(),
        lockstep=False,
        state_dir=tmp_path / "state",
        create_topics=True,  # as `vagus live` runs it: the topics again after each outage seen
    )
    before: list[Event] = []
    phase = 0
    try:
        await create_topics(settings)
        await gateway.start()
        async for record in replay(reader, clock):
            if isinstance(record, DeviceRecord):
                await gateway.handle(record)
                continue
            elapsed_s = (record.gateway_time_ns - start_ns) / 1e9
            if phase == 0 and elapsed_s >= GATEWAY_OUTAGE[0]:
                await _until_drained(gateway.producer, 30)  # all so far: delivered
                before = await _consume_all(
                    settings, set(gateway.ledger.ids()), 30, topics=settings.topics.events()
                )
                outage_broker.go_down()
                phase = 1
            elif phase == 1 and elapsed_s >= GATEWAY_OUTAGE[1]:
                assert gateway.producer.spool.stats.events > 0  # events were waiting on disk
                outage_broker.come_back()
                phase = 2
            elif phase == 2 and elapsed_s >= GATEWAY_STREAM_S:
                break
            await gateway.handle(record)
            gateway.check_alive()
        await gateway.finish()
        await _until_drained(gateway.producer, 60)
        produced = gateway.producer.spool.stats
        assert produced.events == 0 and produced.evicted == 0
        delivered = gateway.ledger.by_topic
        expected_ids = set(gateway.ledger.ids()) - {e.event_id for e in before}
        after = await _consume_all(settings, expected_ids, 60, topics=settings.topics.events())
    finally:
        await gateway.stop()
    assert before, "no events before the outage: the test would not test a resumption"
    read_ids = [e.event_id for e in before + after]
    assert set(read_ids) == set(gateway.ledger.ids())  # none lost
    for topic, ids in delivered.items():  # the ledger lists each topic in delivery order
        order = {event_id: index for index, event_id in enumerate(ids)}
        seen = [i for i in dict.fromkeys(read_ids) if i in order]
        assert seen == ids, topic
    print(
        f"gateway outage: {len(set(read_ids))} events on {len(delivered)} topics, "
        f"{len(before)} before the outage, {len(after)} after"
    )
