"""Validated, keyed event producer.

Every event is validated before it leaves (see :mod:`stream.codec`), keyed by the pseudonymous
patient id so one patient's events stay ordered on one partition, and written with ``acks=all``.
Sensors observe what was produced without touching the code path (the faust pattern).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer

from stream.codec import encode_event
from stream.events import Event
from stream.settings import KafkaSettings


class ProduceSensor(Protocol):
    """Observer of delivered events (ledgers, metrics)."""

    def on_delivered(self, topic: str, event: Event) -> None: ...


class EventProducer:
    """Sends events to the topic their type belongs to; ``flush`` waits for every delivery."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        producer_id: str,
        sensors: Sequence[ProduceSensor] = (),
        linger_ms: int = 5,
    ) -> None:
        self.settings = settings
        self.producer_id = producer_id
        self._sensors = list(sensors)
        self._producer = AIOKafkaProducer(
            client_id=producer_id,
            acks="all",
            linger_ms=linger_ms,
            enable_idempotence=False,  # unsupported by the bundled broker; consumers dedupe
            **settings.client_kwargs(),
        )
        self._pending: set[asyncio.Future[object]] = set()

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def send(self, event: Event) -> None:
        """Queue ``event``; delivery is confirmed by :meth:`flush` (or raises there)."""
        topic = self.settings.topics.for_event(type(event))
        await self.send_to(topic, event)

    async def send_to(self, topic: str, event: Event) -> None:
        """Queue ``event`` on an explicit topic (dead letters of foreign topics, tests)."""
        payload = encode_event(event)
        delivery = await self._producer.send(
            topic, value=payload, key=event.patient_id.encode("ascii")
        )
        self._pending.add(delivery)

        def delivered(future: asyncio.Future[object]) -> None:
            self._pending.discard(future)
            if not future.cancelled() and future.exception() is None:
                for sensor in self._sensors:
                    sensor.on_delivered(topic, event)

        delivery.add_done_callback(delivered)

    async def send_and_wait(self, event: Event) -> None:
        """Send one event and wait for its acknowledgement (commands, outcomes)."""
        await self.send(event)
        await self.flush()

    async def flush(self) -> None:
        """Wait until every queued event is acknowledged; re-raise the first failure."""
        while self._pending:
            await asyncio.gather(*list(self._pending))
