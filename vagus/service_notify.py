"""systemd's notify protocol and watchdog, without a dependency.

Under a ``Type=notify`` unit systemd passes a datagram socket in ``NOTIFY_SOCKET``; the service
says ``READY=1`` once it serves, ``STATUS=...`` lines for ``systemctl status`` and, when the
unit sets ``WatchdogSec=``, ``WATCHDOG=1`` at least every ``WATCHDOG_USEC``. The pings come
from a task on the gateway's own event loop and only while a health check passes: a stalled
loop cannot run the task, an unhealthy BLE stack makes it hold back, and either way systemd
restarts the service. Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable

__all__ = ["HealthCheck", "ServiceNotifier", "keep_watchdog", "watchdog_running"]

log = logging.getLogger(__name__)

#: A check returns None while healthy, else why not (it becomes the unit's STATUS line).
HealthCheck = Callable[[], str | None]


class ServiceNotifier:
    """The notify socket systemd gave this process, if any."""

    def __init__(self, address: str | None, watchdog_usec: int | None) -> None:
        self.address = address
        self.watchdog_s = watchdog_usec / 1e6 if watchdog_usec else None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> ServiceNotifier:
        """Read NOTIFY_SOCKET and WATCHDOG_USEC; the watchdog applies only to the process
        WATCHDOG_PID names (when set), so a child process never pings for its parent."""
        env = os.environ if environ is None else environ
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        for_us = not pid or pid == str(os.getpid())
        watchdog = int(usec) if usec.isdigit() and int(usec) > 0 and for_us else None
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one message; False (logged) when it could not be sent."""
        if self.address is None:
            return False
        # "@name" is an abstract socket: a leading NUL byte on Linux
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), target)
        except OSError as exc:
            log.warning("could not notify the service manager: %s", exc)
            return False
        return True

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def stopping(self, status: str) -> None:
        self.notify("STOPPING=1", f"STATUS={status}")


async def keep_watchdog(
    notifier: ServiceNotifier,
    healthy: HealthCheck,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Ping the watchdog every third of its timeout while ``healthy()`` says so; runs until
    cancelled. A ping that comes late (the loop was blocked) is logged with the stall."""
    if notifier.watchdog_s is None:
        return
    period = notifier.watchdog_s / 3
    reason_shown: str | None = None
    while True:
        due = clock() + period
        await asyncio.sleep(period)
        stall = clock() - due
        if stall > period:
            log.warning("event loop stalled for %.1f s (watchdog %.0f s)", stall, period * 3)
        reason = healthy()
        if reason is None:
            notifier.notify("WATCHDOG=1")
            if reason_shown is not None:
                notifier.notify("STATUS=running")
                log.info("healthy again: watchdog pings resumed")
        elif reason != reason_shown:
            log.error("unhealthy, holding the watchdog back: %s", reason)
            notifier.notify(f"STATUS=unhealthy: {reason}")
        reason_shown = reason


@contextlib.asynccontextmanager
async def watchdog_running(notifier: ServiceNotifier, healthy: HealthCheck) -> AsyncIterator[None]:
    """Run :func:`keep_watchdog` for the body's duration."""
    task = asyncio.create_task(keep_watchdog(notifier, healthy), name="service-watchdog")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
