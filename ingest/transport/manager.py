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


class MonotonicStamp:
    """Gateway arrival times from ``clock`` (Unix ns), forced strictly increasing: a wall clock
    stepped back by NTP must not make later data look older."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._last: int | None = None

    def __call__(self) -> int:
        now = self._clock()
        if self._last is not None and now <= self._last:
            now = self._last + 1
        self._last = now
        return now


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
        backoff: Callable[[], Backoff] = Backoff,
        scan_timeout_s: float = 10.0,
    ) -> None:
        self._sink = sink
        self._on_gap = on_gap
        self._queue: asyncio.Queue[TransportItem | None] = asyncio.Queue()
        self.stamp = MonotonicStamp(clock)
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
