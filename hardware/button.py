"""A push button on a GPIO pin: a press stops the session, a hold means "not now".

One request per press: "not now" is sent the moment the button has been held ``hold_s`` (the
patient need not let go to be heard), and "stop" when a shorter press is released (a fraction
of a second). "Not now" stops a running session too, so a hold never needs a "stop" before it.

gpiozero calls back on its own threads (edges on the pin's, holds on a hold thread), which is
why requests go through :meth:`PatientControl.submit`. Contacts bounce, and gpiozero's mock
pins (and some real pin drivers) do not debounce, so a press shorter than ``MIN_PRESS_S`` is
treated as contact chatter and ignored.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from hardware.control import PatientAction, PatientControl, PatientRequest

log = logging.getLogger(__name__)

GPIO_BUTTON = "gpio-button"
#: Shorter contacts are bounce, not a press: a deliberate tap lasts 80 ms or more.
MIN_PRESS_S = 0.03


class GpioButton:
    """Watches one button on ``pin`` (BCM numbering) while ``with`` lasts."""

    def __init__(
        self,
        pin: int,
        control: PatientControl,
        *,
        hold_s: float = 2.0,
        pull_up: bool = True,
        pin_factory: Any = None,
        source: str = GPIO_BUTTON,
    ) -> None:
        self.pin = pin
        self.control = control
        self.hold_s = hold_s
        self.pull_up = pull_up
        self.source = source
        self._pin_factory = pin_factory
        self._button: Any = None
        self._lock = threading.Lock()
        self._pressed_at: float | None = None
        self._held = False

    def open(self) -> None:
        """Claim the pin (raises gpiozero's error when it cannot be used)."""
        from gpiozero import Button  # noqa: PLC0415 - only gateways with a button need gpiozero

        button = Button(
            self.pin, pull_up=self.pull_up, hold_time=self.hold_s, pin_factory=self._pin_factory
        )
        button.when_pressed = self._on_press
        button.when_released = self._on_release
        button.when_held = self._on_hold
        self._button = button

    def close(self) -> None:
        button, self._button = self._button, None
        if button is not None:
            button.close()

    def __enter__(self) -> GpioButton:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _on_press(self) -> None:
        with self._lock:
            self._pressed_at = time.monotonic()
            self._held = False

    def _on_hold(self) -> None:
        with self._lock:
            if self._pressed_at is None or self._held:
                return
            self._held = True
        self._submit("not_now")

    def _on_release(self) -> None:
        with self._lock:
            pressed_at, held = self._pressed_at, self._held
            self._pressed_at = None
        if pressed_at is None or held:
            return
        pressed_s = time.monotonic() - pressed_at
        if pressed_s < MIN_PRESS_S:
            log.debug("GPIO %d: a %.0f ms contact ignored (bounce)", self.pin, pressed_s * 1e3)
            return
        self._submit("stop")

    def _submit(self, action: PatientAction) -> None:
        self.control.submit(PatientRequest(action, self.source))
