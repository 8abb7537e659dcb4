"""Several devices at once: one session task per device, one ordered sink, clean cancellation.

Sessions put what they receive on one queue (bleak's callbacks are synchronous); a single pump
task hands it to the sink in arrival order, so the sink (``Gateway.handle`` or a recording) sees
one stream of records whose gateway times never go backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from ingest.recording import DeviceRecord, Marker, NotificationRecord
from ingest.transport.backoff import Backoff
from ingest.transport.gaps import Gap
from ingest.transport.identity import install_address_redaction
from ingest.transport.session import DeviceSession, DeviceStatus, TransportItem
from ingest.transport.targets import BleBackend, DeviceTarget

log = logging.getLogger(__name__)

Sink = Callable[[NotificationRecord | Marker | DeviceRecord], Awaitable[None]]
GapSink = Callable[[Gap], Awaitable[None]]


#: A wall-clock reading further behind the monotonic expectation than this is a step back.
CLOCK_STEP_TOLERANCE_NS = 10_000_000


class MonotonicStamp:
    """Gateway arrival times (Unix ns) that never go back, and keep their spacing when the wall
    clock steps back.

    Normally the stamp is the wall clock. When the wall clock steps back (NTP correcting a clock
    that ran ahead, or someone setting it), the stamps continue on the monotonic clock instead,
    ``lead_ns`` ahead of the wall clock: every stream keeps its real sample spacing and all
    devices stay on one timeline, instead of the times being forced forward 1 ns apart until the
    wall clock caught up. Events from before the step were stamped on the same (fast) clock, so
    the timeline stays consistent with them. A later forward step first uses up the lead, and
    only the rest moves the stamps forward (a gap the engine reports). The lead lasts until the
    wall clock steps forward again or the gateway restarts; ``lead_ns`` is exported as a metric.

    Without ``monotonic`` (tests that drive ``clock`` by hand) the stamps are only forced
    strictly increasing.
    """

    def __init__(
        self, clock: Callable[[], int], monotonic: Callable[[], int] | None = None
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._last: int | None = None
        self._last_monotonic = 0
        self.lead_ns = 0

    def __call__(self) -> int:
        wall = self._clock()
        now = wall + self.lead_ns
        if self._last is not None and self._monotonic is not None:
            elapsed = self._monotonic()
            expected = self._last + (elapsed - self._last_monotonic)
            self._last_monotonic = elapsed
            if now < expected - CLOCK_STEP_TOLERANCE_NS:
                self._stepped_back(expected - now)
                now = expected
            elif now > expected + CLOCK_STEP_TOLERANCE_NS and self.lead_ns:
                used = min(self.lead_ns, now - expected)
                self.lead_ns -= used
                now -= used
                log.info(
                    "the gateway clock stepped forward; %.3f s of the lead used up, %.3f s left",
                    used / 1e9,
                    self.lead_ns / 1e9,
                )
        elif self._monotonic is not None:
            self._last_monotonic = self._monotonic()
        if self._last is not None and now <= self._last:
            now = self._last + 1
        self._last = now
        return now

    def _stepped_back(self, step_ns: int) -> None:
        self.lead_ns += step_ns
        log.warning(
            "the gateway clock stepped back %.3f s; arrival times continue on the monotonic "
            "clock, %.3f s ahead of the wall clock, until it steps forward or the gateway restarts",
            step_ns / 1e9,
            self.lead_ns / 1e9,
        )


class Transport:
    """Runs a session per target; use as ``async with`` or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        targets: Sequence[DeviceTarget],
        *,
        secret: bytes,
        sink: Sink,
        on_gap: GapSink | None = None,
        backend: BleBackend | None = None,
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], int] | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        scan_timeout_s: float = 10.0,
    ) -> None:
        self._sink = sink
        self._on_gap = on_gap
        self._queue: asyncio.Queue[TransportItem | None] = asyncio.Queue()
        # The system's monotonic clock partners the system's wall clock; a hand-driven clock
        # (tests) has none unless one is given with it.
        if monotonic is None and clock is time.time_ns:
            monotonic = time.monotonic_ns
        self.stamp = MonotonicStamp(clock, monotonic)
        self.sessions = [
            DeviceSession(
                target,
                secret=secret,
                emit=self._queue.put_nowait,
                stamp=self.stamp,
                backend=backend or BleBackend(),
                backoff=backoff(),
                scan_timeout_s=scan_timeout_s,
            )
            for target in targets
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._pump: asyncio.Task[None] | None = None

    def statuses(self) -> list[DeviceStatus]:
        return [session.status for session in self.sessions]

    def longest_stall_s(self) -> float:
        """Seconds since the least recently progressing session moved on (0 without any)."""
        return max((session.stalled_s() for session in self.sessions), default=0.0)

    async def start(self) -> None:
        install_address_redaction()
        self._pump = asyncio.create_task(self._deliver(), name="transport-sink")
        self._tasks = [
            asyncio.create_task(s.run(), name=f"ble-session-{i}")
            for i, s in enumerate(self.sessions)
        ]

    def check_alive(self) -> None:
        """Raise what killed a session or the sink, instead of running on without it."""
        for task in [*self._tasks, *([self._pump] if self._pump else [])]:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError(f"{task.get_name()} failed") from task.exception()

    async def stop(self) -> None:
        """Cancel every session (each closes its open gap), then deliver what is queued. Each
        is told to stop first: a cancellation the BLE stack swallows cannot keep it running."""
        for session in self.sessions:
            session.request_stop()
        for task in self._tasks:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("a device session failed: %r", result)
        self._tasks = []
        if self._pump is not None and not self._pump.done():
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self._pump = None

    async def __aenter__(self) -> Transport:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _deliver(self) -> None:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, Gap):
                await self._sink(item.marker(item.end_ns))
                if self._on_gap is not None:
                    await self._on_gap(item)
            else:
                await self._sink(item)
