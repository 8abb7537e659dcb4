"""Time as devices see it: wall time when live, the recording's time when replayed."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What a session timer needs: the current time and a way to wait for a later one."""

    def now_ns(self) -> int: ...

    async def sleep_until(self, time_ns: int) -> None: ...


class WallClock:
    """The live clock: Unix time."""

    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep_until(self, time_ns: int) -> None:
        delay_s = (time_ns - time.time_ns()) / 1e9
        if delay_s > 0:
            await asyncio.sleep(delay_s)
