"""A virtual Polar Verity Sense over the real bleak client (in-process; the stream itself also
through BlueZ in the guest): found by its name, started on its PMD control point (PPI, no
settings), streamed, and decoded as replay decodes a recording; the intervals the gateway gets
are exactly the ones the sensor sent, minus those it flagged."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.decoding import DeviceDecoder
from ingest.profiles.polar_pmd import PMD_DATA_UUID
from ingest.recording import DeviceRecord
from ingest.transport.manager import Transport
from ingest.transport.scanner import scan
from ingest.transport.targets import DeviceTarget
from ingest.virtual.link import VirtualRadio
from ingest.virtual.peripherals import HeartRatePeripheral
from ingest.virtual.pmd_peripheral import PolarPmdPeripheral
from ingest.virtual.ppi_peripheral import PolarSensePeripheral
from tests.ble.test_transport_support import (
    SECRET,
    Collected,
    virtual_backend,
    wait_for,
)

OPTICAL = "polar-optical"
INTERVALS_MS = [812, 845, 903, 870, 798, 1012, 760, 888, 930, 845, 801]
BLOCKER = [False, False, True, False, False, False, False, True, False, False, False]
CONTACT = [True, True, True, True, False, True, True, True, True, True, True]
FRAMES = 12  # two passes over the intervals at two a frame, and a bit


def _transport(radio: VirtualRadio, sense: PolarSensePeripheral, got: Collected) -> Transport:
    """The gateway's transport, through bleak on the virtual radio, to the sensor alone."""
    return got.transport(radio, [DeviceTarget(OPTICAL, address=sense.address, label="upper arm")])


async def test_scan_tells_a_verity_sense_from_an_h10_and_a_strap(radio: VirtualRadio) -> None:
    async with (
        PolarSensePeripheral(radio),
        PolarPmdPeripheral(radio),
        HeartRatePeripheral(radio, "Strap 1"),
    ):
        found = await scan(0.3, secret=SECRET, backend=virtual_backend(radio))
    assert sorted(s.profile for s in found) == ["heart-rate", "polar-h10", OPTICAL]


@pytest.mark.bluez
async def test_ppi_from_a_virtual_verity_sense_reaches_the_decoder(radio: VirtualRadio) -> None:
    got = Collected()
    async with PolarSensePeripheral(
        radio,
        intervals_ms=INTERVALS_MS,
        blocker=BLOCKER,
        skin_contact=CONTACT,
        frame_interval_s=0.02,
    ) as sense:
        transport = _transport(radio, sense, got)
        async with transport:
            await wait_for(lambda: len(got.notifications(PMD_DATA_UUID)) >= FRAMES)
        assert sense.start_requests == [b"\x02\x03"], "PPI started once, with no settings"
        assert len(sense.local_time_set) == 1, "the clock is set over PS-FTP at connect"

    notifications = got.notifications(PMD_DATA_UUID)
    received = [n.payload for n in notifications]
    assert received == sense.frames_while_subscribed[: len(received)]
    (device,) = [i.device for i in got.items if isinstance(i, DeviceRecord)]
    assert device.profile == OPTICAL

    decoder = DeviceDecoder(device.device_id, device.profile)
    ppi_times: list[int] = []
    ppi_values: list[float] = []
    hr_values: list[float] = []
    for notification in notifications:
        for block in decoder.decode(notification.to_notification()):
            assert block.times_ns[-1] <= notification.gateway_time_ns
            if block.stream == "ppi":
                ppi_times += block.times_ns.tolist()
                ppi_values += block.values.tolist()
            elif block.stream == "hr":
                hr_values += block.values.tolist()

    sent = np.arange(2 * len(received)) % len(INTERVALS_MS)  # two intervals a frame, cycled
    intervals = np.asarray(INTERVALS_MS)[sent]
    kept = ~np.asarray(BLOCKER)[sent] & np.asarray(CONTACT)[sent]
    assert ppi_values == intervals[kept].astype(float).tolist()
    assert np.all(np.diff(ppi_times) > 0)
    expected_hr = np.rint(60_000 / intervals[np.asarray(CONTACT)[sent]])
    assert hr_values == expected_hr.tolist()


async def test_a_refused_ppi_start_fails_the_connection(radio: VirtualRadio) -> None:
    got = Collected()
    async with PolarSensePeripheral(radio, ppi_start_status=3, frame_interval_s=0.02) as sense:
        transport = _transport(radio, sense, got)
        async with transport:
            session = transport.sessions[0]
            await wait_for(lambda: sense.connection_count >= 2)
            assert session.status.last_error == (
                "start-up: start PPI: the sensor answered NOT_SUPPORTED"
            )
        assert not sense.streaming
    assert not got.notifications(PMD_DATA_UUID)
