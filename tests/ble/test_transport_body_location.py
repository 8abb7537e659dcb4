"""A Heart Rate Service armband and a strap over the real bleak client (in-process, and through
BlueZ in the guest): the gateway reads each one's Body Sensor Location (0x2A38) at every
connection and records it ahead of the data, so the live decoder and a replay of the recording
both know an armband's intervals are pulse."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from ingest.decoding import DeviceDecoder
from ingest.profiles.body_sensor_location import BODY_SENSOR_LOCATION_UUID
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, encode_heart_rate_measurement
from ingest.recording import DeviceRecord, NotificationRecord
from ingest.transport.targets import DeviceTarget
from ingest.virtual.link import VirtualRadio
from ingest.virtual.peripherals import HeartRatePeripheral
from tests.ble.test_transport_support import (
    Collected,
    wait_for,
)

BEATS = 8
INTERVAL_1024 = 840  # 820 ms


async def _beat(band: HeartRatePeripheral) -> None:
    payload = encode_heart_rate_measurement(73, rr_intervals_1024=[INTERVAL_1024])
    while True:
        await band.notify(payload)
        await asyncio.sleep(0.05)


@pytest.mark.bluez
@pytest.mark.parametrize(
    ("location", "stream"), [(2, "ppi"), (1, "rr"), (None, "rr")], ids=["wrist", "chest", "none"]
)
async def test_where_the_sensor_sits_travels_with_its_data(
    radio: VirtualRadio, location: int | None, stream: str
) -> None:
    got = Collected()
    async with HeartRatePeripheral(radio, "Band 3", body_sensor_location=location) as band:
        targets = [DeviceTarget("heart-rate", address=band.address, label="left arm")]
        transport = got.transport(radio, targets)
        async with transport:
            # beat until enough arrive: through BlueZ the subscription lands a while after the
            # session counts the connection, and notifications sent before it are not delivered
            beating = asyncio.create_task(_beat(band))
            try:
                await wait_for(lambda: len(got.notifications(HEART_RATE_MEASUREMENT_UUID)) >= BEATS)
            finally:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating

    records = [i for i in got.items if isinstance(i, NotificationRecord)]
    located = got.notifications(BODY_SENSOR_LOCATION_UUID)
    if location is None:
        assert not located, "nothing to read, nothing recorded"
    else:
        assert [r.payload for r in located] == [bytes([location])]
        assert records[0] is located[0], "the location comes before any data"

    (device,) = [i.device for i in got.items if isinstance(i, DeviceRecord)]
    decoder = DeviceDecoder(device.device_id, device.profile)
    intervals: dict[str, list[float]] = {}
    for record in records:
        for block in decoder.decode(record.to_notification()):
            intervals.setdefault(block.stream, []).extend(block.values.tolist())
    beats = len(got.notifications(HEART_RATE_MEASUREMENT_UUID))
    assert intervals == {"hr": [73.0] * beats, stream: [INTERVAL_1024 * 1000 / 1024] * beats}
