"""The LED pacer on gpiozero's mock pins: it breathes, respects its cap and ends dark."""

from __future__ import annotations

import asyncio

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from hardware.clock import Clock
from hardware.led import LedPacer
from stream.events import SessionParameters
from tests.hardware.test_interlock import FakeClock


class RecordingClock(FakeClock):
    """Records the LED's brightness each time the pacer waits."""

    def __init__(self, factory: MockFactory, pin: int) -> None:
        super().__init__()
        self.factory, self.pin = factory, pin
        self.samples: list[tuple[float, float]] = []

    async def sleep_until(self, time_ns: int) -> None:
        self.samples.append((self.now / 1e9, float(self.factory.pin(self.pin).state)))
        await super().sleep_until(time_ns)


async def test_led_brightness_follows_the_breath_and_its_cap() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    clock = RecordingClock(factory, 17)
    pacer = LedPacer(pin=17, pin_factory=factory, max_intensity=0.5)
    parameters = SessionParameters(
        duration_s=60.0, breaths_per_min=6.0, inhale_fraction=0.4, intensity=0.8
    )
    check: Clock = clock
    report = await pacer.render(parameters, check, asyncio.Event())
    assert report.completed and report.breaths == 6
    levels = dict(clock.samples)
    assert max(levels.values()) <= 0.5 + 1e-9
    assert levels[0.0] == pytest.approx(0.0)
    # Mid-session (past the fade-in): bright at the end of the inhale, dark at the breath's start.
    assert levels[24.0] == pytest.approx(0.5, abs=1e-6)
    assert levels[30.0] == pytest.approx(0.0, abs=1e-6)
    assert factory.pin(17).state == 0.0  # dark after the session


async def test_abort_turns_the_led_off() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    abort = asyncio.Event()

    class AbortAt(FakeClock):
        async def sleep_until(self, time_ns: int) -> None:
            await super().sleep_until(time_ns)
            if self.now >= 12_000_000_000:
                abort.set()

    report = await LedPacer(pin=18, pin_factory=factory).render(
        SessionParameters(duration_s=300.0), AbortAt(), abort
    )
    assert not report.completed and report.ran_s == pytest.approx(12.0, abs=0.06)
    assert factory.pin(18).state == 0.0
