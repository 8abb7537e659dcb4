"""The BLE haptic device over real GATT: the real bleak client writing to a bumble peripheral."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from bleak import BleakClient

from hardware.ble_haptic import BleHapticDevice
from hardware.limits import DeviceLimits, Interlock
from hardware.runner import SessionRunner
from ingest.profiles.sample_stream import load_builtin
from stream.events import InterventionOutcome, SessionParameters
from tests.ble.test_virtual_ble import _find, _wait_for
from tests.hardware.test_interlock import FakeClock, command

if TYPE_CHECKING:
    from ingest.virtual.link import VirtualRadio


@pytest.mark.bluez
async def test_haptic_intensity_follows_the_breath_over_gatt(radio: VirtualRadio) -> None:
    from ingest.virtual.peripherals import VIRTUAL_COMMAND_UUID, SampleStreamPeripheral

    async with SampleStreamPeripheral(radio, load_builtin("vagus-eda-v1")) as band:
        device = await _find(radio, band.address)
        async with BleakClient(device, backend=radio.client_backend()) as client:
            haptic = BleHapticDevice(client, VIRTUAL_COMMAND_UUID, max_intensity=0.6)
            parameters = SessionParameters(duration_s=60.0, intensity=0.9)
            report = await haptic.render(parameters, FakeClock(), asyncio.Event())
            await _wait_for(lambda: len(band.commands_received) == 241)
    assert report.completed and report.breaths == 6
    levels = [payload[0] for payload in band.commands_received]  # one byte each
    assert all(len(payload) == 1 for payload in band.commands_received)
    assert levels[0] == 0 and levels[-1] == 0  # fades in from nothing, ends at rest
    assert max(levels) <= round(0.6 * 255)  # the device's cap, not the command's 0.9
    # 4 updates per second: mid-session, strongest at the end of each 4-s inhale.
    assert levels[4 * 24] == round(0.6 * 255)
    assert levels[4 * 30] == 0


@pytest.mark.bluez
async def test_a_band_that_drops_out_ends_the_session_as_failed(radio: VirtualRadio) -> None:
    from ingest.virtual.peripherals import VIRTUAL_COMMAND_UUID, SampleStreamPeripheral

    outcomes: list[InterventionOutcome] = []

    async def emit(outcome: InterventionOutcome) -> None:
        outcomes.append(outcome)

    class SlowClock(FakeClock):
        async def sleep_until(self, time_ns: int) -> None:
            await asyncio.sleep(0.005)
            await super().sleep_until(time_ns)

    async with SampleStreamPeripheral(radio, load_builtin("vagus-eda-v1")) as band:
        device = await _find(radio, band.address)
        client = BleakClient(device, backend=radio.client_backend())
        await client.connect()
        runner = SessionRunner(
            device=BleHapticDevice(client, VIRTUAL_COMMAND_UUID),
            interlock=Interlock(DeviceLimits(quiet_hours=None)),
            clock=SlowClock(),
            emit=emit,
            producer_id="t",
        )
        await runner.handle(command(0, duration_s=600))
        await _wait_for(lambda: len(band.commands_received) >= 5)
        await band.drop_connection(come_back=False)
        await runner.wait_idle()
        await client.disconnect()
    assert [o.status for o in outcomes] == ["requested", "started", "failed"]
    assert outcomes[-1].detail  # says what went wrong
