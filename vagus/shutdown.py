"""SIGINT and SIGTERM: one of either ends a command within seconds, with its summary.

The signal cancels the command's main task, so every ``finally`` block runs; a command that has
a summary catches the cancellation where it can still write one (:func:`absorb`), stops what it
started with short timeouts and returns the summary marked ``interrupted``. The exit status then
says which signal it was: 128 + its number, i.e. **130 after SIGINT and 143 after SIGTERM**, as
shells report a process killed by it. A cancellation that no signal asked for is a bug, never
reported as an interruption (it was: exit 130 after the demo's broker died, with no summary).
"""

from __future__ import annotations

import asyncio
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []


def install(task: asyncio.Task[object]) -> None:
    """Let SIGINT and SIGTERM cancel ``task`` (the command's main task) on the running loop."""
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        loop.add_signal_handler(signum, _on_signal, signum, task)


def _on_signal(signum: int, task: asyncio.Task[object]) -> None:
    _received.append(signum)
    task.cancel(f"stopped by {signal.Signals(signum).name}")


def received() -> int | None:
    """The first stopping signal this process received (None: none)."""
    return _received[0] if _received else None


def signal_name() -> str | None:
    signum = received()
    return None if signum is None else signal.Signals(signum).name


def exit_status() -> int | None:
    """128 + the first signal's number (130 for SIGINT, 143 for SIGTERM); None without one."""
    signum = received()
    return None if signum is None else 128 + signum


def absorb() -> str:
    """Called in an ``except asyncio.CancelledError`` block: re-raise a cancellation no signal
    asked for; otherwise take it back (so the shutdown that follows can await with its own
    timeouts) and return the signal's name for the summary."""
    name = signal_name()
    task = asyncio.current_task()
    if name is None or task is None:
        raise asyncio.CancelledError
    task.uncancel()
    return name


def reset() -> None:
    """Forget received signals (tests that run several commands in one process)."""
    _received.clear()
