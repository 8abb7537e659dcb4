"""Validated, deduplicating consumer with dead letters and at-least-once commits.

Offsets are committed only after the handler has finished with a batch, so a crash re-delivers
rather than loses; the gate drops the re-deliveries by event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer

from stream.events import AnyEvent
from stream.gate import Admitted, GateCounters, MessageGate, Rejected
from stream.producer import EventProducer
from stream.settings import KafkaSettings

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
        self.gate = MessageGate(consumer_id=consumer_id)
        self._consumer = AIOKafkaConsumer(
            *self._topics,
            group_id=group_id,
            client_id=consumer_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            **settings.client_kwargs(),
        )
        self._assigned = asyncio.Event()

    @property
    def counters(self) -> GateCounters:
        return self.gate.counters

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def wait_assigned(self, timeout_s: float = 30.0) -> None:
        """Wait until the group has given this consumer its partitions."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no partitions assigned for {self._topics}")
            await asyncio.sleep(0.05)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; each batch is committed after it is handled."""
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=100, max_records=500)
            if not batches:
                continue
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
            await self._consumer.commit()
