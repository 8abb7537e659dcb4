"""Several devices at once over the real bleak client: a heart-rate strap, a Polar H10 and an
EDA sensor, one session each; a strap that vanishes and comes back; logs without addresses
(every logger of this process at DEBUG, bleak and bleak-retry-connector included, except the
bumble simulator that stands in for the radio hardware)."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, encode_heart_rate_measurement
from ingest.profiles.polar_pmd import PMD_DATA_UUID
from ingest.profiles.sample_stream import load_builtin
from ingest.recording import DeviceRecord
from ingest.transport.scanner import ScanFilter, scan
from ingest.transport.targets import DeviceTarget
from ingest.virtual.link import VirtualRadio
from ingest.virtual.peripherals import (
    HeartRatePeripheral,
    SampleStreamPeripheral,
)
from ingest.virtual.pmd_peripheral import PolarPmdPeripheral
from tests.ble.test_transport_support import (
    SECRET,
    AcceleratedClock,
    Collected,
    virtual_backend,
    wait_for,
)

EDA = load_builtin("vagus-eda-v1")


@pytest.mark.bluez
async def test_three_devices_stream_at_once_and_a_vanished_strap_returns(
    radio: VirtualRadio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = AcceleratedClock(10.0)
    got = Collected()
    async with (
        HeartRatePeripheral(radio, "Strap 4711", manufacturer="ACME", model="HR-9") as hr,
        PolarPmdPeripheral(radio, clock_ns=clock) as h10,
        SampleStreamPeripheral(radio, EDA, "vEDA 7") as eda,
    ):
        secrets_on_air = [hr.address, h10.address, eda.address, hr.name, h10.name]
        targets = [
            DeviceTarget("heart-rate", address=hr.address, label="strap"),
            DeviceTarget("polar-h10", name_prefix="Polar H10", label="ecg"),
            DeviceTarget(f"sample-stream:{EDA.name}", address=eda.address, label="eda"),
        ]
        transport = got.transport(radio, targets, clock=clock, scan_timeout_s=0.3)
        strap, _, skin = transport.sessions
        sent_hr: list[bytes] = []

        async def beat(count: int) -> None:
            for i in range(count):
                payload = encode_heart_rate_measurement(
                    60 + len(sent_hr) % 40, rr_intervals_1024=[1000 + i]
                )
                sent_hr.append(payload)
                await hr.notify(payload)
                await asyncio.sleep(0.01)

        async with transport:
            await wait_for(lambda: all(s.status.info is not None for s in transport.sessions))
            await wait_for(lambda: hr.subscriber_count(hr.measurement) == 1)
            await wait_for(lambda: eda.subscriber_count(eda.stream) == 1)
            await beat(5)
            for i in range(3):
                await eda.notify_samples(np.full((8, 1), 3000 + i), device_time_ns=i * 10**9)
            await wait_for(lambda: len(got.notifications(PMD_DATA_UUID)) >= 5)

            await hr.drop_connection(come_back=False)  # out of range for a while
            await wait_for(lambda: not strap.status.connected)
            await asyncio.sleep(0.8)  # several scans find nothing; the session keeps trying
            assert strap.status.connections == 1
            await hr.advertise()  # back in range
            await wait_for(lambda: hr.connection_count == 2)
            await wait_for(lambda: hr.subscriber_count(hr.measurement) == 1)
            await beat(5)
            await wait_for(lambda: len(got.notifications(HEART_RATE_MEASUREMENT_UUID)) >= 10)
            await asyncio.sleep(0.05)  # a duplicate would arrive within this window
            assert hr.subscriber_count(hr.measurement) == 1
            assert strap.subscribe_calls == 2, "one subscription per connection, never doubled"
            assert skin.subscribe_calls == 1
            assert {t.get_name() for t in asyncio.all_tasks()} >= {
                "ble-session-0",
                "transport-sink",
            }
        assert not [
            t for t in asyncio.all_tasks() if t.get_name().startswith(("ble-", "transport-"))
        ]

    assert [n.payload for n in got.notifications(HEART_RATE_MEASUREMENT_UUID)] == sent_hr
    assert len(got.notifications(EDA.characteristic)) == 3
    joined = {
        i.device.device_id: i.device.profile for i in got.items if isinstance(i, DeviceRecord)
    }
    assert sorted(joined.values()) == ["heart-rate", "polar-h10", "sample-stream:vagus-eda-v1"]
    strap_gaps = [g for g in got.gaps if g.device_id == strap.status.device_id]
    assert [g.stream for g in strap_gaps] == ["link"]  # the link, not its streams
    assert all(g.reason == "disconnected" and g.end_ns > g.start_ns for g in strap_gaps)
    assert strap.status.info is not None
    assert (strap.status.info.manufacturer, strap.status.info.model) == ("ACME", "HR-9")
    assert strap.status.info.battery_percent == 87
    # bumble's own records are the simulated radio's (on a Pi: the kernel and BlueZ, not vagus)
    ours = [r for r in caplog.records if not r.name.startswith("bumble")]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours)
    assert "bleak_retry_connector" in logged, "the libraries' debug records were captured"
    for secret in secrets_on_air:
        assert secret not in logged, "an address or advertised name reached the log"


async def test_scan_maps_profiles_and_applies_filters(radio: VirtualRadio) -> None:
    async with (
        HeartRatePeripheral(radio, "Strap 1"),
        PolarPmdPeripheral(radio),
        SampleStreamPeripheral(radio, EDA, "vEDA 2"),
    ):
        backend = virtual_backend(radio)
        found = await scan(0.3, secret=SECRET, backend=backend)
        assert sorted(s.profile for s in found) == [
            "heart-rate",
            "polar-h10",
            f"sample-stream:{EDA.name}",
        ]
        named = await scan(
            0.3, secret=SECRET, backend=backend, scan_filter=ScanFilter(name_prefix="Polar")
        )
        assert [s.profile for s in named] == ["polar-h10"]
        assert (
            await scan(0.3, secret=SECRET, backend=backend, scan_filter=ScanFilter(min_rssi=-10))
            == []
        )
