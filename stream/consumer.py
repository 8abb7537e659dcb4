"""Validated, deduplicating consumer with dead letters and at-least-once commits.

Offsets are committed only after the handler has finished with a batch, so a crash re-delivers
rather than loses; the gate drops the re-deliveries by event id. A gateway must start without a
broker (it spools meanwhile), so :meth:`EventConsumer.connect` retries in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from ingest.transport.backoff import Backoff
from stream.errors import BrokerTimeoutError
from stream.events import AnyEvent
from stream.gate import Admitted, GateCounters, MessageGate, Rejected
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from stream.timeouts import TIMEOUTS, bounded

log = logging.getLogger(__name__)

EventHandler = Callable[[AnyEvent], Awaitable[None]]


class EventConsumer:
    """Reads ``topics`` as a member of ``group_id`` and hands valid, new events to ``handler``."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group_id: str,
        topics: Sequence[str],
        handler: EventHandler,
        dead_letters: EventProducer,
        consumer_id: str,
        from_beginning: bool = True,
    ) -> None:
        self._settings = settings
        self._topics = list(topics)
        self._handler = handler
        self._dead_letters = dead_letters
        self._group_id = group_id
        self._consumer_id = consumer_id
        self._from_beginning = from_beginning
        self.gate = MessageGate(consumer_id=consumer_id)
        self._consumer = self._new_consumer()
        self._assigned = asyncio.Event()
        #: None until the first attempt; then whether the last attempt reached the broker.
        self.connected: bool | None = None
        #: Set while the broker is found unreachable (a fetch or commit not answered in time).
        self.unreachable = asyncio.Event()

    def _new_consumer(self) -> AIOKafkaConsumer:
        settings = self._settings
        return AIOKafkaConsumer(
            *self._topics,
            group_id=self._group_id,
            client_id=self._consumer_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self._from_beginning else "latest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            **settings.client_kwargs(),
        )

    @property
    def counters(self) -> GateCounters:
        return self.gate.counters

    async def start(self) -> None:
        """Connect now; raises the client's error (or BrokerTimeoutError) if the broker cannot
        be reached within ``TIMEOUTS.connect_s``."""
        await bounded(self._consumer.start(), TIMEOUTS.connect_s, f"{self._consumer_id}'s start")
        self.connected = True

    async def connect(
        self,
        stop: asyncio.Event,
        *,
        attempt_timeout_s: float = TIMEOUTS.connect_s,
        cap_s: float = 30.0,
    ) -> bool:
        """Start, retrying with capped backoff until connected (True) or ``stop`` is set
        (False). An unreachable broker is a warning when that changes, never an error: the
        gateway goes on reading sensors and spooling meanwhile."""
        backoff = Backoff(base_s=1.0, cap_s=cap_s)
        while not stop.is_set():
            try:
                async with asyncio.timeout(attempt_timeout_s):
                    await self._consumer.start()
            except (KafkaError, OSError, TimeoutError) as exc:
                await self._discard_failed_start()
                if self.connected is not False:
                    log.warning(
                        "%s: broker unreachable (%s); retrying in the background",
                        self._consumer_id,
                        type(exc).__name__,
                    )
                self.connected = False
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff.next_delay()):
                        await stop.wait()
                continue
            if self.connected is False:
                log.warning("%s: broker reachable; consuming", self._consumer_id)
            self.connected = True
            return True
        return False

    async def _discard_failed_start(self) -> None:
        """A consumer whose start failed is not started again: close it, make a fresh one."""
        await self.stop()
        self._consumer = self._new_consumer()

    async def stop(self) -> None:
        """Leave the group and close, within ``TIMEOUTS.stop_s``: a broker that is gone (or
        never answers) cannot hold a shutdown. Never raises for the broker's sake, and never lets
        a cancellation from inside the client out unless this task itself is being cancelled (it
        was taken for Ctrl-C and ended the demo with exit 130)."""
        try:
            await bounded(self._consumer.stop(), TIMEOUTS.stop_s, f"{self._consumer_id}'s stop")
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("%s: closed without the broker (%s)", self._consumer_id, exc)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            log.warning("%s: the client's tasks were cancelled while it closed", self._consumer_id)

    async def wait_assigned(self, timeout_s: float = 30.0) -> None:
        """Wait until the group has given this consumer its partitions."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no partitions assigned for {self._topics}")
            await asyncio.sleep(0.05)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; each batch is committed after it is handled.

        A fetch or commit the broker does not answer in time (``TIMEOUTS``) or refuses is a
        warning when the broker's state changes, then a capped backoff, never the end of the
        consumer: an uncommitted batch is committed with the next one (or read again after a
        restart, and dropped by event id).
        """
        backoff = Backoff(base_s=1.0, cap_s=30.0)
        while not stop.is_set():
            try:
                await self._run_once()
            except (KafkaError, BrokerTimeoutError) as exc:  # not the handler's own failures
                if self.connected is not False:
                    log.warning(
                        "%s: broker unreachable (%s); retrying in the background",
                        self._consumer_id,
                        exc,
                    )
                self.connected = False
                self.unreachable.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff.next_delay()):
                        await stop.wait()
                continue
            if self.connected is False:
                log.warning("%s: broker reachable; consuming", self._consumer_id)
                backoff.reset()
            self.connected = True
            self.unreachable.clear()

    async def _run_once(self) -> None:
        """One fetch, handled and committed; each broker call bounded."""
        batches = await bounded(
            self._consumer.getmany(timeout_ms=100, max_records=500), TIMEOUTS.fetch_s, "a fetch"
        )
        if batches:
            for partition, records in batches.items():
                for record in records:
                    verdict = self.gate.check(
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        key=record.key,
                        value=record.value,
                    )
                    if isinstance(verdict, Admitted):
                        await self._handler(verdict.event)
                    elif isinstance(verdict, Rejected):
                        await self._dead_letters.send(verdict.dead_letter)
                log.debug("handled %d records from %s", len(records), partition)
            await self._dead_letters.flush()
            await bounded(self._consumer.commit(), TIMEOUTS.request_s, "a commit")
