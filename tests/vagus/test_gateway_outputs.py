"""`vagus gateway` drives what is configured: a command from Kafka runs on the virtual band
(over the real bleak client), the patient's GPIO button stops it, the band's own button says
"not now", and both arrive on the outcomes topic with the control that sent them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ingest.transport.targets import BleBackend, DeviceTarget
from stream.events import InterventionCommand, InterventionOutcome, PatientControl
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from tests.hardware.test_interlock import command
from tests.helpers import read_events
from vagus.config import DeviceLimitSettings, LiveSettings, VagusConfig
from vagus.config_outputs import BleHapticOutput, GpioButtonControl
from vagus.demo import create_topics
from vagus.live import gateway_over

pytest.importorskip("bumble", reason="the virtual backend needs the optional bumble dependency")

PATIENT = "p-0123456789ab"  # whose command tests.hardware.test_interlock.command builds


async def _until(condition: object, timeout_s: float = 90) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _gateway_with_band(
    kafka: KafkaSettings, tmp_path: Path, **wiring: Any
) -> AsyncIterator[tuple[Any, asyncio.Event, asyncio.Task[dict[str, Any]]]]:
    """The live gateway on the virtual world with the band as its output, running until the
    yielded event is set; ``wiring`` adds controls (and their pin factory)."""
    from ingest.virtual.world import HR_NAME, virtual_wearables

    controls = wiring.pop("controls", [])
    config = VagusConfig(
        kafka=kafka,
        live=LiveSettings(state_dir=str(tmp_path), reconnect_cap_s=1.0),
        device_limits=DeviceLimitSettings(quiet_hours_start=None, quiet_hours_end=None),
        outputs=[BleHapticOutput(name_prefix="vBand", label="wrist band", max_intensity=0.5)],
        controls=controls,
    )
    await create_topics(kafka)
    stop = asyncio.Event()
    async with virtual_wearables() as world:
        band = world.band
        run = asyncio.create_task(
            gateway_over(
                config,
                ble=BleBackend(world.radio.scanner_backend(), world.radio.client_backend()),
                targets=[DeviceTarget("heart-rate", name_prefix=HR_NAME, label="strap")],
                patient=PATIENT,
                seconds=None,
                stop=stop,
                **wiring,
            )
        )
        await _until(lambda: band.button_subscribed() or run.done())
        assert not run.done(), run
        yield band, stop, run


async def _start_session(kafka: KafkaSettings, band: Any) -> InterventionCommand:
    """Send a session command as the closed loop would; return once the band is vibrating."""
    loop = EventProducer(kafka, producer_id="test-loop")
    await loop.start()
    try:
        session = command(time.time_ns(), duration_s=120, intensity=0.6)
        await loop.send_and_wait(session)
    finally:
        await loop.stop()
    await _until(lambda: sum(level > 0 for level in band.levels) >= 4, 30)
    return session


@pytest.mark.broker
async def test_the_gateway_runs_sessions_on_the_band_and_hears_both_buttons(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    controls = [GpioButtonControl(pin=17, hold_s=0.5)]
    async with _gateway_with_band(kafka, tmp_path, controls=controls, pin_factory=factory) as (
        band,
        stop,
        run,
    ):
        session = await _start_session(kafka, band)
        await asyncio.to_thread(factory.pin(17).drive_low)  # the patient presses stop
        await asyncio.sleep(0.1)
        await asyncio.to_thread(factory.pin(17).drive_high)
        # requested, started, aborted, and the stop itself
        await read_events(kafka, kafka.topics.name("outcomes"), 4)
        await _until(lambda: band.levels[-1] == 0, 10)
        await band.press("long")  # and then "not now" on the band
        events = await read_events(kafka, kafka.topics.name("outcomes"), 5)
        stop.set()
        summary = await run

    assert summary["outputs"] == ["outputs[0] ble_haptic 'wrist band'"]
    assert max(band.levels) <= round(0.5 * 255), "the output's cap held"
    outcomes = [e for e in events if isinstance(e, InterventionOutcome)]
    assert [o.status for o in outcomes] == ["requested", "started", "aborted"]
    assert all(o.command_id == session.event_id for o in outcomes)
    assert outcomes[-1].detail == "aborted by patient:gpio-button"
    controls_sent = [e for e in events if isinstance(e, PatientControl)]
    assert [(c.action, c.source, c.command_id) for c in controls_sent] == [
        ("stop", "gpio-button", session.event_id),
        ("not_now", "band-button", None),
    ]
    assert controls_sent[1].quiet_until_ns is not None


@pytest.mark.broker
async def test_the_band_button_aborts_a_running_session(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    async with _gateway_with_band(kafka, tmp_path) as (band, stop, run):
        session = await _start_session(kafka, band)
        await band.press("short")  # the patient stops it on the band itself
        events = await read_events(kafka, kafka.topics.name("outcomes"), 4)
        await _until(lambda: band.levels[-1] == 0, 10)
        stop.set()
        await run
    outcomes = [e for e in events if isinstance(e, InterventionOutcome)]
    assert [o.status for o in outcomes] == ["requested", "started", "aborted"]
    assert outcomes[-1].detail == "aborted by patient:band-button"
    controls = [e for e in events if isinstance(e, PatientControl)]
    assert [(c.action, c.source, c.command_id) for c in controls] == [
        ("stop", "band-button", session.event_id)
    ]
