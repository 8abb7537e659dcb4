"""Run a coroutine inline until it first has to wait, then hand the rest to the event loop.

Python 3.12's eager tasks do this; on 3.11 a task costs more than a short coroutine that never
waits. The faust fetch loop (closedloop.transport) hands every message to its stream through
such a coroutine: it finishes at once unless the stream's buffer is full.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Started:
    """A coroutine run up to its first wait: finished with ``result``, or paused on ``waiting``."""

    coroutine: Coroutine[Any, Any, Any]
    finished: bool
    result: Any = None
    waiting: Any = None

    def rest(self) -> _Rest:
        """An awaitable that continues the paused coroutine where it stopped."""
        return _Rest(self.coroutine, self.waiting)


def start_inline(coroutine: Coroutine[Any, Any, Any]) -> Started:
    """Run ``coroutine`` until it completes or first yields to the event loop."""
    try:
        waiting = coroutine.send(None)
    except StopIteration as stop:
        return Started(coroutine, finished=True, result=stop.value)
    return Started(coroutine, finished=False, waiting=waiting)


class _Rest:
    """Awaitable tail of a coroutine paused on ``waiting`` (what its first ``send`` yielded).

    The first yield passes ``waiting`` to whichever task awaits this, exactly as the coroutine
    itself would have; after it resolves, ``yield from`` resumes the coroutine and forwards
    later values, throws (cancellation) and the return value.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self._coroutine = coroutine
        self._waiting = waiting

    def __await__(self) -> Generator[Any, None, Any]:
        try:
            yield self._waiting
        except BaseException:
            self._coroutine.close()
            raise
        return (yield from self._coroutine.__await__())


def waits_on(coroutine: Any, event: object) -> bool:
    """True when ``coroutine`` is an unstarted ``event.wait()`` call."""
    frame = getattr(coroutine, "cr_frame", None)
    return (
        frame is not None
        and getattr(coroutine, "__qualname__", "").endswith(".wait")
        and frame.f_locals.get("self") is event
    )
