"""The GPIO push button on gpiozero's mock pins, driven from another thread as gpiozero does:
a press stops, a hold means "not now" (once), contact bounce is ignored, and the pin is freed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from gpiozero import Button
from gpiozero.pins.mock import MockFactory

from hardware.button import GpioButton
from hardware.control import PatientControl, PatientRequest
from vagus.config import VagusConfig
from vagus.config_outputs import GpioButtonControl
from vagus.outputs import OutputSetupError, build_outputs


@pytest.fixture
async def control() -> AsyncIterator[PatientControl]:
    async def handler(_request: PatientRequest) -> None:
        return None

    patient = PatientControl(handler)
    patient.bind()
    yield patient
    await patient.settle()


async def _press(factory: MockFactory, pin: int, seconds: float) -> None:
    """Hold the button (wired to ground, pulled up) down ``seconds``, from a worker thread."""
    await asyncio.to_thread(factory.pin(pin).drive_low)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(factory.pin(pin).drive_high)


async def _handled(control: PatientControl, count: int) -> list[PatientRequest]:
    async with asyncio.timeout(5):
        while len(control.handled) < count:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # and nothing more arrives
    await control.settle()
    return control.handled


async def test_a_press_stops_and_a_hold_means_not_now(control: PatientControl) -> None:
    factory = MockFactory()
    with GpioButton(17, control, hold_s=0.3, pin_factory=factory):
        await _press(factory, 17, 0.1)
        assert await _handled(control, 1) == [PatientRequest("stop", "gpio-button")]
        await asyncio.to_thread(factory.pin(17).drive_low)
        started = time.monotonic()
        await _handled(control, 2)
        held_for = time.monotonic() - started
        assert control.handled[1] == PatientRequest("not_now", "gpio-button")
        assert 0.25 <= held_for < 1.0, "heard while still held, once hold_s has passed"
        await asyncio.sleep(0.5)  # keep holding: no repeat
        await asyncio.to_thread(factory.pin(17).drive_high)
        assert await _handled(control, 2) == [
            PatientRequest("stop", "gpio-button"),
            PatientRequest("not_now", "gpio-button"),
        ], "releasing after a hold sends nothing more"


async def test_contact_bounce_is_not_a_press(control: PatientControl) -> None:
    factory = MockFactory()
    pin = factory.pin(5)

    def chatter() -> None:
        for _ in range(5):  # a few millisecond-scale contacts, as a bouncing switch makes
            pin.drive_low()
            pin.drive_high()

    with GpioButton(5, control, hold_s=0.3, pin_factory=factory):
        await asyncio.to_thread(chatter)
        await asyncio.sleep(0.2)
        await control.settle()
        assert control.handled == []
        await _press(factory, 5, 0.1)
        assert await _handled(control, 1) == [PatientRequest("stop", "gpio-button")]


async def test_a_pulled_down_button_presses_high(control: PatientControl) -> None:
    factory = MockFactory()
    with GpioButton(6, control, hold_s=0.3, pull_up=False, pin_factory=factory):
        await asyncio.to_thread(factory.pin(6).drive_high)
        await asyncio.sleep(0.1)
        await asyncio.to_thread(factory.pin(6).drive_low)
        assert await _handled(control, 1) == [PatientRequest("stop", "gpio-button")]


async def test_configured_buttons_reach_the_control_and_free_their_pins(
    control: PatientControl,
) -> None:
    factory = MockFactory()
    config = VagusConfig(controls=[GpioButtonControl(pin=22, hold_s=0.5)])
    outputs = build_outputs(config, pin_factory=factory)
    async with outputs.running(control):
        assert [b.pin for b in outputs.buttons] == [22]
        await _press(factory, 22, 0.1)
        await _press(factory, 22, 0.8)
        assert await _handled(control, 2) == [
            PatientRequest("stop", "gpio-button"),
            PatientRequest("not_now", "gpio-button"),
        ]
    Button(22, pin_factory=factory).close()  # the pin was released at exit


async def test_without_a_control_the_buttons_are_not_claimed() -> None:
    factory = MockFactory()
    outputs = build_outputs(VagusConfig(controls=[GpioButtonControl(pin=23)]), pin_factory=factory)
    async with outputs.running(None):
        assert outputs.buttons == []
        Button(23, pin_factory=factory).close()


async def test_a_pin_in_use_is_a_setup_error_naming_the_control(control: PatientControl) -> None:
    factory = MockFactory()
    config = VagusConfig(controls=[GpioButtonControl(pin=24)])
    taken = Button(24, pin_factory=factory)
    try:
        with pytest.raises(OutputSetupError, match=r"controls\[0\] \(gpio_button\): cannot use "
                           r"GPIO 24"):  # fmt: skip
            async with build_outputs(config, pin_factory=factory).running(control):
                pass
    finally:
        taken.close()
