"""Replay a recording as a live source: same records, original timestamps, chosen pace.

The replay clock *is* the recording's timeline. Everything downstream that needs "now" (window
closing, a device's session timer) asks the clock, so a 20-minute recording replayed at 60x or
as fast as possible produces the same event times as the live session did.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import IngestError
from ingest.recording import DeviceRecord, Marker, NotificationRecord, RecordingReader

#: Yield to the event loop after this many records at maximum speed, so consumers keep up.
_MAX_SPEED_BATCH = 64


@dataclass(frozen=True, slots=True)
class Speed:
    """Replay pace: a multiple of real time, or ``None`` for as fast as possible."""

    factor: float | None

    @classmethod
    def parse(cls, text: str) -> Speed:
        """Accept ``realtime``, ``max``, ``N`` or ``Nx`` (N > 0, a multiple of real time)."""
        cleaned = text.strip().lower()
        if cleaned == "max":
            return cls(None)
        if cleaned == "realtime":
            return cls(1.0)
        try:
            factor = float(cleaned.removesuffix("x"))
        except ValueError as exc:
            raise IngestError(f"speed {text!r}: use realtime, max, or a factor like 10x") from exc
        if not factor > 0 or factor == float("inf"):
            raise IngestError(f"speed {text!r}: the factor must be a positive finite number")
        return cls(factor)

    def __str__(self) -> str:
        return "max" if self.factor is None else f"{self.factor:g}x"


class ReplayClock:
    """The recording's time as seen by a replay, usable as the gateway's and devices' clock.

    Paced replay: recording time advances with the wall clock times the factor while the host
    keeps up. When it falls behind (a kernel compiling, a slow decision, a busy core), recording
    time *holds* instead of jumping ahead: it never runs more than ``slack_s`` of recording time
    past the record being replayed, and the pace resumes from where the data is. So what the
    pipeline sees (window times, decision times, a command's age when it reaches the device)
    does not depend on how fast the host is; only the wall time the replay takes does.

    Maximum speed: recording time is the time of the latest replayed record; a timer fires as
    soon as the replay passes its deadline (the replay yields to it before going on), and after
    the last record the clock runs freely, so timers that outlive the recording (a session's
    end) fire.
    """

    #: How far paced recording time may run past the record being replayed (host jitter).
    DEFAULT_SLACK_S = 2.0

    def __init__(self, speed: Speed, *, slack_s: float = DEFAULT_SLACK_S) -> None:
        self.speed = speed
        self._origin_ns: int | None = None
        self._wall_origin = 0.0
        self._position_ns = 0
        self._slack_ns = int(slack_s * 1e9)
        self._finished = False
        self._timers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._timer_count = 0
        #: Paced replay only: recording time given up to a host that fell behind.
        self.held_ns = 0

    @property
    def started(self) -> bool:
        return self._origin_ns is not None

    def start(self, origin_ns: int) -> None:
        self._origin_ns = origin_ns
        self._position_ns = origin_ns
        self._wall_origin = time.monotonic()

    def now_ns(self) -> int:
        if self._origin_ns is None:
            return time.time_ns()
        factor = self.speed.factor
        if factor is None:
            return self._position_ns
        scheduled = self._scheduled_ns(factor)
        if self._finished:
            return scheduled
        return min(scheduled, self._position_ns + self._slack_ns)

    def _scheduled_ns(self, factor: float) -> int:
        assert self._origin_ns is not None
        elapsed = (time.monotonic() - self._wall_origin) * factor
        return self._origin_ns + int(elapsed * 1e9)

    async def advance_to(self, time_ns: int) -> None:
        """Move to ``time_ns``: sleep when paced; at maximum speed, fire the timers passed."""
        if self._origin_ns is None:
            self.start(time_ns)
        factor = self.speed.factor
        if factor is not None:
            await self._paced_advance(time_ns, factor)
            return
        self._position_ns = max(self._position_ns, time_ns)
        if self._timers and self._timers[0][0] <= self._position_ns:
            self._fire(self._position_ns)
            await asyncio.sleep(0)  # let the woken timers read the clock before it moves on

    async def finish(self) -> None:
        """The recording is over: paced time runs freely from the last record; at maximum
        speed pending timers fire now, later ones at once."""
        if self.speed.factor is not None and self._origin_ns is not None:
            behind_ns = self._scheduled_ns(self.speed.factor) - self._position_ns
            if behind_ns > self._slack_ns:
                self._wall_origin += behind_ns / 1e9 / self.speed.factor
                self.held_ns += behind_ns
        self._finished = True
        while self._timers:
            deadline = self._timers[0][0]
            self._position_ns = max(self._position_ns, deadline)
            self._fire(deadline)
            await asyncio.sleep(0)

    def _fire(self, up_to_ns: int) -> None:
        while self._timers and self._timers[0][0] <= up_to_ns:
            _, _, future = heapq.heappop(self._timers)
            if not future.done():
                future.set_result(None)

    async def _paced_advance(self, time_ns: int, factor: float) -> None:
        """Wait for ``time_ns`` at the pace; if the host is behind it, hold time instead."""
        behind_ns = self._scheduled_ns(factor) - time_ns
        if behind_ns > self._slack_ns:
            # Rebase: the schedule resumes from this record, as if the stall had not happened.
            self._wall_origin += behind_ns / 1e9 / factor
            self.held_ns += behind_ns
        self._position_ns = max(self._position_ns, time_ns)
        delay_s = (time_ns - self._scheduled_ns(factor)) / 1e9 / factor
        if delay_s > 0:
            await asyncio.sleep(delay_s)

    async def _paced_sleep(self, time_ns: int, factor: float) -> None:
        delay_s = (time_ns - self.now_ns()) / 1e9 / factor
        if delay_s > 0:
            await asyncio.sleep(delay_s)

    async def sleep_until(self, time_ns: int) -> None:
        factor = self.speed.factor
        if factor is not None:
            await self._paced_sleep(time_ns, factor)
            return
        if self._finished:
            self._position_ns = max(self._position_ns, time_ns)
            await asyncio.sleep(0)
            return
        if time_ns <= self._position_ns:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._timer_count += 1
        heapq.heappush(self._timers, (time_ns, self._timer_count, future))
        await future


ReplayItem = NotificationRecord | Marker | DeviceRecord


async def replay(reader: RecordingReader, clock: ReplayClock) -> AsyncIterator[ReplayItem]:
    """Yield the recording's records at the clock's pace, with their original timestamps."""
    for count, record in enumerate(reader, start=1):
        if not isinstance(record, DeviceRecord):
            await clock.advance_to(record.gateway_time_ns)
        yield record
        if clock.speed.factor is None and count % _MAX_SPEED_BATCH == 0:
            await asyncio.sleep(0)
    await clock.finish()


def open_recording(path: Path) -> RecordingReader:
    """Open a recording for replay (raises :class:`ingest.errors.RecordingError`)."""
    return RecordingReader(path)
