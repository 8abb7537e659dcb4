"""Every wait on the broker is bounded: the one place that names how long each may take.

A broker that stops answering (a killed process, a pulled cable, a TCP peer that accepts and
never replies) must never hold a command: aiokafka's own request timeouts do not cover every
call (``commit()`` and ``stop()`` can wait for ever on a coordinator that vanished), so each
call vagus makes goes through :func:`bounded` with one of these limits. docs/reliability.md
lists what each fault then does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from stream.errors import BrokerTimeoutError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BrokerTimeouts:
    """Seconds each kind of broker call may take before it counts as unanswered."""

    #: Starting a client: bootstrap connection, metadata, joining a group's coordinator.
    connect_s: float = 10.0
    #: One request and its answer: a produce round, a commit, a topic list/create/describe.
    request_s: float = 5.0
    #: A fetch (``getmany``): its own wait plus one request.
    fetch_s: float = 5.0
    #: Waiting for every queued event's acknowledgement (``flush``).
    flush_s: float = 10.0
    #: Closing a client (leaving the group, last commit): a dead broker must not hold a shutdown.
    stop_s: float = 2.0
    #: Reading a whole topic to its end: the policy log (the CLI, and the worker at start-up).
    read_log_s: float = 30.0
    #: Reading one partition of the closed loop's state to its end (a worker gaining it).
    read_state_s: float = 60.0
    #: After SIGINT or SIGTERM: how long the spool may drain before the rest waits on disk.
    shutdown_drain_s: float = 1.0

    @property
    def request_ms(self) -> int:
        """``request_s`` as the client's own ``request_timeout_ms``, for producers, admins and
        readers outside a group: the client then gives up first and closes its socket (a start
        cancelled by :func:`bounded` leaves its bootstrap connection open until collected).
        Group consumers keep the client's default: a join may rightly wait for a rebalance."""
        return int(self.request_s * 1000)


TIMEOUTS = BrokerTimeouts()


async def bounded(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """Await ``awaitable`` for at most ``seconds``; then raise :class:`BrokerTimeoutError`
    (a ``TimeoutError`` and a ``StreamError``) naming ``what`` did not answer."""
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError as exc:
        raise BrokerTimeoutError(f"the broker did not answer {what} within {seconds:g} s") from exc
