"""The gateway's health reports over the real bleak client and virtual sensors: a report when a
device connects; a periodic report re-reads the battery through the open connection; a device
without a Battery Service reports none; a lost device keeps its last value. Each report
is signed into the spool like every gateway event, with no address or advertised name in it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.profiles.sample_stream import load_builtin
from ingest.transport.manager import Transport
from ingest.transport.targets import DeviceTarget
from ingest.virtual.link import VirtualRadio
from ingest.virtual.peripherals import HeartRatePeripheral, SampleStreamPeripheral
from stream.codec import decode_event
from stream.events import GatewayHealth
from stream.settings import KafkaSettings
from stream.signing import GatewayKey, verify
from stream.spool import Spool
from stream.spooling_producer import SpoolingProducer
from tests.ble.test_transport_support import SECRET, fast_backoff, virtual_backend, wait_for
from vagus.health import HealthReporter, lowest_battery, reporting

EDA = load_builtin("vagus-eda-v1")
PATIENT = "p-0123456789ab"
KEY = GatewayKey("0123456789ab", PATIENT, bytes(range(32)))


@pytest.fixture
def producer(tmp_path: Path) -> Iterator[SpoolingProducer]:
    """The gateway's producer, never started: everything it is given stays in its spool."""
    spooling = SpoolingProducer(
        KafkaSettings(bootstrap="127.0.0.1:9"),
        producer_id="vagus-gateway",
        spool=Spool(tmp_path / "spool"),
        signing_key=KEY,
    )
    yield spooling
    spooling.spool.close()


def _battery(health: GatewayHealth, device_id: str | None) -> tuple[int | None, bool]:
    device = next(d for d in health.devices if d.device_id == device_id)
    return device.battery_percent, device.connected


def _last_sent(reporter: HealthReporter, device_id: str | None) -> tuple[int | None, bool] | None:
    """The device in the newest report sent, or ``None`` before it appears in one."""
    if not reporter.sent or device_id not in {d.device_id for d in reporter.sent[-1].devices}:
        return None
    return _battery(reporter.sent[-1], device_id)


async def test_reports_at_connection_then_periodically_with_the_battery_read_again(
    radio: VirtualRadio, producer: SpoolingProducer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="vagus")
    async with (
        HeartRatePeripheral(radio, "Strap 4711", battery_level=87) as hr,
        SampleStreamPeripheral(radio, EDA, "vEDA 7") as eda,
    ):
        on_air = (hr.address, eda.address, hr.name, eda.name)
        transport = Transport(
            [
                DeviceTarget("heart-rate", address=hr.address, label="strap"),
                DeviceTarget(f"sample-stream:{EDA.name}", address=eda.address, label="eda"),
            ],
            secret=SECRET,
            sink=_discard,
            backend=virtual_backend(radio),
            backoff=fast_backoff,
            scan_timeout_s=0.3,
        )
        strap, skin = transport.sessions
        reporter = HealthReporter(
            sources=transport.sessions,
            producer=producer,
            patient_id=PATIENT,
            producer_id="vagus-gateway",
            interval_s=3600.0,  # no periodic report in this test: those that come are connections'
            poll_s=0.02,
        )
        async with transport, reporting(reporter) as running:
            await wait_for(lambda: strap.ready_connections == 1 and skin.ready_connections == 1)
            # each connection's report (the skin sensor has no Battery Service)
            await wait_for(lambda: _last_sent(reporter, strap.status.device_id) == (87, True))
            await wait_for(lambda: _last_sent(reporter, skin.status.device_id) == (None, True))
            assert _last_sent(reporter, strap.status.device_id) == (87, True)

            hr.battery_level = 12  # the strap runs down during the session
            periodic = await reporter.report()  # what each periodic report does
            assert _battery(periodic, strap.status.device_id) == (12, True)
            assert strap.status.connections == 1, "read through the open connection"
            assert strap.status.info is not None and strap.status.info.battery_percent == 12
            assert lowest_battery(periodic) == 12

            await eda.notify_samples(np.full((8, 1), 3000), device_time_ns=0)
            await hr.drop_connection(come_back=False)
            await wait_for(lambda: not strap.status.connected)
            lost = await reporter.report()
            assert _battery(lost, strap.status.device_id) == (12, False), "the last value kept"
            running.check_alive()

    spooled = producer.spool.peek(1000)
    health = [decode_event(verify(e.payload, KEY)) for e in spooled]  # each one signed
    assert len(health) == len(reporter.sent) and all(isinstance(h, GatewayHealth) for h in health)
    last = reporter.sent[-1]
    assert last.spool_events == len(reporter.sent) - 1  # the earlier reports wait in the spool
    assert last.spool_oldest_age_s is not None and last.spool_oldest_age_s > 0
    assert last.broker_refusal is None
    on_the_wire = b"".join(e.payload for e in spooled).decode() + caplog.text
    assert "health:" in caplog.text  # the control: the reporter's log lines were captured
    for secret in on_air:
        assert secret not in on_the_wire


async def _discard(_item: object) -> None:
    await asyncio.sleep(0)
