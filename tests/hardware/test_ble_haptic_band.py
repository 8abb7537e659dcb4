"""The configured BLE haptic band through the real bleak client (and bleak-retry-connector)
against a bumble virtual band speaking ``vagus-haptic-v1``: what it was sent, its button, a
dropped link, and that its address reaches no log line and no outcome."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hardware.clock import WallClock
from hardware.control import PatientControl, PatientRequest
from hardware.devices import FanOutDevice
from hardware.haptic_profiles import VAGUS_HAPTIC_V1
from hardware.limits import DeviceLimits, Interlock
from hardware.runner import SessionRunner
from ingest.transport.identity import REDACTED
from ingest.transport.targets import BleBackend
from stream.events import InterventionOutcome, SessionParameters
from tests.hardware.test_interlock import FakeClock, command
from vagus.config import LiveSettings, VagusConfig
from vagus.config_outputs import BleHapticOutput, LedOutput
from vagus.outputs import Outputs, build_outputs

pytest.importorskip("bumble", reason="the virtual band needs the optional bumble dependency")

from ingest.virtual.haptic_band import HapticBandPeripheral
from ingest.virtual.link import VirtualRadio

ADDRESS = re.compile(r"(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}")
SECRET = bytes(range(32))


@dataclass
class World:
    radio: VirtualRadio
    band: HapticBandPeripheral
    ble: BleBackend


@pytest.fixture
async def world() -> AsyncIterator[World]:
    radio = VirtualRadio()
    try:
        async with HapticBandPeripheral(radio, "vBand 7") as band:
            yield World(radio, band, BleBackend(radio.scanner_backend(), radio.client_backend()))
    finally:
        await radio.close()


def _config(tmp_path: Path, *outputs: BleHapticOutput | LedOutput) -> VagusConfig:
    live = LiveSettings(state_dir=str(tmp_path), scan_timeout_s=2.0, reconnect_cap_s=1.0)
    return VagusConfig(outputs=list(outputs), live=live)


def _band_output(**overrides: object) -> BleHapticOutput:
    settings: dict[str, object] = {"name_prefix": "vBand", "label": "wrist band"} | overrides
    return BleHapticOutput(**settings)  # type: ignore[arg-type]


async def _connected(outputs: Outputs) -> None:
    for band in outputs.bands:
        assert await band.wait_connected(10), band.last_error


async def _received(band: HapticBandPeripheral, count: int) -> list[int]:
    """Writes without response arrive after the render returned: wait for all of them."""
    async with asyncio.timeout(5):
        while len(band.intensities) < count:
            await asyncio.sleep(0.01)
    return band.levels


async def test_the_band_follows_the_cue_within_its_cap_and_ends_at_zero(
    world: World, tmp_path: Path
) -> None:
    outputs = build_outputs(
        _config(tmp_path, _band_output(max_intensity=0.6)), ble=world.ble, secret=SECRET
    )
    async with outputs.running(None):
        await _connected(outputs)
        parameters = SessionParameters(duration_s=60.0, breaths_per_min=6.0, intensity=0.9)
        report = await outputs.device.render(parameters, FakeClock(), asyncio.Event())
        assert report.completed and report.breaths == 6
        levels = await _received(world.band, 60 * 4 + 1)  # 4 Hz, then the closing 0
    cap = round(0.6 * 255)
    assert max(levels) == cap, "reaches the output's cap (not the command's 0.9), never more"
    assert levels[0] == 0 and levels[-1] == 0
    # Past the fade-in, bright at the end of each inhale (4 s into a 10-s breath), off at its start.
    assert levels[24 * 4] == cap and levels[30 * 4] == 0
    assert world.band.connection_count == 1


async def test_updates_come_at_the_drivers_rate_in_real_time(world: World, tmp_path: Path) -> None:
    outputs = build_outputs(_config(tmp_path, _band_output()), ble=world.ble, secret=SECRET)
    async with outputs.running(None):
        await _connected(outputs)
        report = await outputs.device.render(
            SessionParameters(duration_s=3.0), WallClock(), asyncio.Event()
        )
        assert report.completed
        await _received(world.band, 13)
    times_s = [t / 1e9 for t, _ in world.band.intensities]
    gaps = [b - a for a, b in itertools.pairwise(times_s[:-1])]  # not the closing 0
    assert len(gaps) == 11
    assert all(0.2 < gap < 0.3 for gap in gaps), gaps  # 4 Hz, below the profile's 10 Hz
    assert 1 / min(gaps) <= VAGUS_HAPTIC_V1.max_update_hz


async def test_a_drop_fails_the_session_and_the_band_comes_back(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes: list[InterventionOutcome] = []

    async def emit(outcome: InterventionOutcome) -> None:
        outcomes.append(outcome)

    caplog.set_level(logging.DEBUG)
    outputs = build_outputs(
        _config(tmp_path, _band_output(address=world.band.address, name_prefix=None)),
        ble=world.ble,
        secret=SECRET,
    )
    async with outputs.running(None):
        await _connected(outputs)
        runner = SessionRunner(
            device=outputs.device,
            interlock=Interlock(DeviceLimits(quiet_hours=None)),
            clock=WallClock(),
            emit=emit,
            producer_id="t",
        )
        await runner.handle(command(time.time_ns(), duration_s=60))
        await asyncio.sleep(1.0)
        await world.band.drop_connection()
        async with asyncio.timeout(5):
            await runner.wait_idle()
        assert [o.status for o in outcomes] == ["requested", "started", "failed"]
        assert "link was lost" in outcomes[-1].detail or "Not connected" in outcomes[-1].detail
        band = outputs.bands[0]
        assert await band.wait_connected(10), band.last_error
        assert world.band.connection_count == 2
        before = len(world.band.intensities)
        report = await band.render(SessionParameters(duration_s=5.0), FakeClock(), asyncio.Event())
        assert report.completed
        assert (await _received(world.band, before + 21))[-1] == 0
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    text += "".join(o.detail for o in outcomes)
    assert band.device_id is not None and band.device_id in text, "named by its pseudonym"
    assert not ADDRESS.search(text), "the band's address is in no log line and no outcome"
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("hardware", "vagus"))]
    assert ours and not any(REDACTED in m for m in ours), "ours never needed redacting"


async def test_the_bands_button_reaches_the_patient_control(world: World, tmp_path: Path) -> None:
    stopped = asyncio.Event()
    abort = asyncio.Event()

    async def handler(request: PatientRequest) -> None:
        abort.set()  # what the gateway's handler does to a running session
        stopped.set()

    control = PatientControl(handler)
    control.bind()
    outputs = build_outputs(_config(tmp_path, _band_output()), ble=world.ble, secret=SECRET)
    async with outputs.running(control):
        await _connected(outputs)
        async with asyncio.timeout(5):
            while not world.band.button_subscribed():
                await asyncio.sleep(0.01)
        session = asyncio.create_task(
            outputs.device.render(SessionParameters(duration_s=60.0), WallClock(), abort)
        )
        await asyncio.sleep(0.6)
        await world.band.press("short")
        async with asyncio.timeout(5):
            await stopped.wait()
        report = await session
        assert not report.completed and report.ran_s < 2.0
        assert world.band.button is not None
        await world.band.notify_value(world.band.button, b"\x07")  # not a press
        await world.band.press("long")
        async with asyncio.timeout(5):
            while len(control.handled) < 2:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        await control.settle()
    assert control.handled == [
        PatientRequest("stop", "band-button"),
        PatientRequest("not_now", "band-button"),
    ]
    assert world.band.levels[-1] == 0, "the band is off after the patient stopped it"


async def test_a_band_that_is_not_there_fails_its_session_saying_why(
    world: World, tmp_path: Path
) -> None:
    config = _config(tmp_path, _band_output(name_prefix="Nowhere", label="spare band"))
    outputs = build_outputs(config, ble=world.ble, secret=SECRET)
    async with outputs.running(None):
        band = outputs.bands[0]
        assert not await band.wait_connected(10, one_attempt=True)
        with pytest.raises(RuntimeError, match=r"'spare band' is not connected .*not found"):
            await band.render(SessionParameters(duration_s=5.0), FakeClock(), asyncio.Event())
    assert world.band.connection_count == 0


async def test_a_band_and_a_light_run_one_session_together(world: World, tmp_path: Path) -> None:
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    factory = MockFactory(pin_class=MockPWMPin)
    config = _config(
        tmp_path, _band_output(max_intensity=0.5), LedOutput(pin=18, max_intensity=0.3)
    )
    outputs = build_outputs(config, ble=world.ble, secret=SECRET, pin_factory=factory)
    assert isinstance(outputs.device, FanOutDevice)
    async with outputs.running(None):
        await _connected(outputs)
        report = await outputs.device.render(
            SessionParameters(duration_s=3.0, intensity=0.8), WallClock(), asyncio.Event()
        )
        levels = await _received(world.band, 13)
    assert report.completed and report.ran_s == pytest.approx(3.0)
    assert 0 < max(levels) <= round(0.5 * 255) and levels[-1] == 0
    assert factory.pin(18).state == 0.0
