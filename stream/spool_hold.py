"""Events the disk would not take, held in memory until it takes them again.

A gateway in a home runs for weeks on an SD card: the card fills (logs, a runaway recording)
or turns read-only when it starts to fail. The spool then refuses appends
(:class:`~stream.spool.SpoolWriteError`). Crashing would lose the events in memory, and a
restart meets the same disk. Instead each event waits here, in order, and every later send
first offers the held ones to the spool again, so the spool keeps the order the gateway made.
The hold is bounded: past ``limit`` the oldest is dropped, counted and logged as lost (the
spool evicts its oldest in the same way when it is full), never silently.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

from stream.spool import Spool, SpoolWriteError

__all__ = ["HeldEvents"]

log = logging.getLogger(__name__)

#: Held events at most: a bound on memory while the disk refuses, the oldest dropped past it.
DEFAULT_LIMIT = 5000
#: Losses are logged at most this often while the disk keeps refusing (with the running total).
LOSS_LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class _Held:
    topic: str
    key: bytes
    payload: bytes


class HeldEvents:
    """The events waiting for the disk, oldest first, and what the disk said last."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the hold needs room for at least one event, not {limit}")
        self.limit = limit
        self._events: deque[_Held] = deque()
        #: Events dropped from a full hold: lost, and reported.
        self.lost = 0
        #: Why the disk refused the last append; None while it takes them.
        self.refusal: str | None = None
        self._loss_logged_at: float | None = None

    def __len__(self) -> int:
        return len(self._events)

    def store(self, spool: Spool, *, topic: str, key: bytes, payload: bytes) -> None:
        """Append every held event and then this one to ``spool``, in order, as far as the disk
        takes them; what it refuses waits here for the next call."""
        self._events.append(_Held(topic, key, payload))
        self.drain(spool)

    def drain(self, spool: Spool) -> bool:
        """Offer the held events to ``spool`` again; True when none is left waiting."""
        while self._events:
            held = self._events[0]
            try:
                spool.append(topic=held.topic, key=held.key, payload=held.payload)
            except SpoolWriteError as exc:
                self._refused(str(exc))
                return False
            self._events.popleft()
        if self.refusal is not None:
            log.warning("the disk takes the spool again; the held events are written")
            self.refusal = None
        return True

    def _refused(self, reason: str) -> None:
        if self.refusal is None:
            log.error(
                "%s: holding events in memory (at most %d) until it recovers", reason, self.limit
            )
        self.refusal = reason
        if len(self._events) <= self.limit:
            return
        dropped = len(self._events) - self.limit
        for _ in range(dropped):
            self._events.popleft()
        self.lost += dropped
        now = time.monotonic()
        if self._loss_logged_at is None or now - self._loss_logged_at >= LOSS_LOG_EVERY_S:
            self._loss_logged_at = now
            log.error(
                "held events lost: %d in total, the oldest dropped first; the disk still refuses "
                "the spool (%s)",
                self.lost,
                reason,
            )
