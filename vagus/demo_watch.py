"""The demo's children while it runs: a worker or broker that exits ends the run, not the demo.

Each step of the run (the replay, the final flush, the drain) races the exits of the closed-loop
worker and, when the demo started it, the embedded broker. The first to exit stops the step at
once; the demo then shuts down, says in its summary which child died and why, and fails. Nothing
polls: :func:`stream.broker.wait_exit` wakes on the process's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

#: How long a step that was told to stop may take to unwind before the shutdown goes on.
STEP_UNWIND_S = 1.0


class ChildWatch:
    """Races steps against child exits; ``died`` says which child ended the run, and how."""

    def __init__(self) -> None:
        self._watchers: dict[asyncio.Task[int], tuple[str, Callable[[int], str]]] = {}
        #: child name -> {"exit_status": ..., "reason": ...} of the first child that exited.
        self.died: dict[str, dict[str, Any]] = {}

    def watch(self, name: str, exited: Awaitable[int], reason: Callable[[int], str]) -> None:
        """Watch a child: ``exited`` completes with its exit status; ``reason(status)`` says
        why it ended, in one line."""

        async def wait() -> int:
            return await exited

        self._watchers[asyncio.create_task(wait(), name=f"watch-{name}")] = (name, reason)

    async def run(self, step: Coroutine[Any, Any, object]) -> bool:
        """Run ``step`` unless a child has exited; True when it completed (its failure
        raised), False when a child's exit stopped it (or had already)."""
        if self.died:
            step.close()
            return False
        task = asyncio.ensure_future(step)
        try:
            await asyncio.wait({task, *self._watchers}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():  # a child exited, or this task itself is being cancelled
                task.cancel()
                await asyncio.wait({task}, timeout=STEP_UNWIND_S)
        self._note_exits()
        if task.cancelled() or not task.done():
            return False
        if self.died and task.exception() is not None:
            # the child's exit explains it (a flush refused by a dead broker, say)
            log.warning("a step failed after a child exited: %r", task.exception())
            return False
        task.result()
        return True

    def _note_exits(self) -> None:
        for watcher, (name, reason) in self._watchers.items():
            exited = watcher.done() and not watcher.cancelled() and watcher.exception() is None
            if exited and name not in self.died:
                status = watcher.result()
                self.died[name] = {"exit_status": status, "reason": reason(status)}

    def close(self) -> None:
        """Stop watching (before the demo stops its children itself)."""
        self._note_exits()
        for watcher in self._watchers:
            watcher.cancel()

    async def closed(self) -> None:
        self.close()
        for watcher in self._watchers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
