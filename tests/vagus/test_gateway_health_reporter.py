"""The health reporter's timing and contents with stand-in device sessions: a report at each
connection (with the battery just read, no second read), periodic ones that read it again, the
spool's backlog with the oldest event's age and the broker's refusal, devices never found left
out, and a failing reporter that the gateway's liveness check reports."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.transport.session import DeviceStatus
from ingest.transport.startup import DeviceInformation
from stream.settings import KafkaSettings
from stream.spool import Spool
from stream.spooling_producer import SpoolingProducer
from tests.ble.test_transport_support import wait_for
from tests.helpers import PATIENT, stream_gap
from vagus.health import HealthReporter, lowest_battery, reporting

HOUR_NS = 3600 * 10**9


class StandIn:
    """A device session as the reporter sees it; its battery is whatever the test sets."""

    def __init__(self, device_id: str | None, battery: int | None = 50) -> None:
        self.status = DeviceStatus(profile="heart-rate", label="strap", device_id=device_id)
        self.ready_connections = 0
        self.battery = battery
        self.reads = 0
        self.fail = False

    def connect(self) -> None:
        self.status.connected = True
        self.status.info = DeviceInformation(self.battery, None, None, None)
        self.ready_connections += 1

    async def read_battery(self) -> int | None:
        if self.fail:
            raise RuntimeError("the stand-in's radio caught fire")
        self.reads += 1
        if self.status.connected and self.status.info is not None:
            self.status.info = dataclasses.replace(self.status.info, battery_percent=self.battery)
        return self.status.info.battery_percent if self.status.info is not None else None


@pytest.fixture
def producer(tmp_path: Path) -> Iterator[SpoolingProducer]:
    spooling = SpoolingProducer(
        KafkaSettings(bootstrap="127.0.0.1:9"),  # never started: events stay spooled
        producer_id="vagus-gateway",
        spool=Spool(tmp_path / "spool"),
    )
    yield spooling
    spooling.spool.close()


def reporter_for(
    producer: SpoolingProducer, *sources: StandIn, interval_s: float, **kw: object
) -> HealthReporter:
    return HealthReporter(
        sources=sources,
        producer=producer,
        patient_id=PATIENT,
        producer_id="vagus-gateway",
        interval_s=interval_s,
        poll_s=0.01,
        **kw,  # type: ignore[arg-type]
    )


async def test_a_connection_reports_at_once_and_the_interval_reads_again(
    producer: SpoolingProducer,
) -> None:
    strap, unseen = StandIn("d-0123abcd", battery=80), StandIn(None)
    reporter = reporter_for(producer, strap, unseen, interval_s=1.0)
    async with reporting(reporter):
        await asyncio.sleep(0.1)
        assert list(reporter.sent) == []  # nothing connected, no interval passed
        strap.connect()
        await wait_for(lambda: len(reporter.sent) == 1, within_s=0.5)
        assert strap.reads == 0, "the connection's report uses the battery its start-up read"
        strap.battery = 15
        await wait_for(lambda: len(reporter.sent) == 3, within_s=5)
    assert strap.reads >= 2
    first, second, third = list(reporter.sent)[:3]
    assert [d.device_id for d in first.devices] == ["d-0123abcd"]  # never found: left out
    assert (lowest_battery(first), lowest_battery(third)) == (80, 15)
    for earlier, later in ((first, second), (second, third)):
        assert later.gateway_time_ns - earlier.gateway_time_ns >= 0.95e9


async def test_the_backlog_and_the_refusal_are_reported(producer: SpoolingProducer) -> None:
    later = time.time_ns() + 3 * HOUR_NS  # three hours after the first event was spooled
    for second in range(3):
        await producer.send(stream_gap(second, producer_id="vagus-gateway"))
    producer.refusal = "TopicAuthorizationFailedError"
    reporter = reporter_for(producer, interval_s=900.0, clock=lambda: later)
    health = await reporter.report()
    assert health.spool_events == 3
    assert health.spool_oldest_age_s is not None
    assert 3 * 3600 - 60 < health.spool_oldest_age_s <= 3 * 3600
    assert health.broker_refusal == "TopicAuthorizationFailedError"
    assert health.gateway_time_ns == later
    assert len(producer.spool) == 4  # and the report itself went to the spool
    empty = await reporter_for(producer, interval_s=900.0).measure()
    assert empty.devices == () and lowest_battery(empty) is None


async def test_a_failing_reporter_is_reported_by_its_liveness_check(
    producer: SpoolingProducer,
) -> None:
    strap = StandIn("d-0123abcd")
    strap.connect()
    reporter = reporter_for(producer, strap, interval_s=0.05)
    async with reporting(reporter) as running:
        running.check_alive()
        strap.fail = True
        await wait_for(running.task.done, within_s=2)
        with pytest.raises(RuntimeError, match="health reporter failed"):
            running.check_alive()
