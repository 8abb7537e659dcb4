"""Validated, keyed event producer.

Every event is validated before it leaves (see :mod:`stream.codec`), keyed by the pseudonymous
patient id so one patient's events stay ordered on one partition, and written with ``acks=all``.
Sensors observe what was produced without touching the code path (the faust pattern).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import astuple
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from stream.events import Event
from stream.idempotence import IdempotenceChoice, choose_idempotence
from stream.settings import KafkaSettings
from stream.signing import GatewayKey, sign_event
from stream.timeouts import TIMEOUTS, bounded

log = logging.getLogger(__name__)


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
        signing_key: GatewayKey | None = None,
    ) -> None:
        self.settings = settings
        self.producer_id = producer_id
        #: A gateway's key signs every event it sends (stream.signing); None sends them unsigned.
        self.signing_key = signing_key
        self._sensors = list(sensors)
        self._linger_ms = linger_ms
        settings.client_kwargs()  # a configuration error shows here, not at start
        self._client: AIOKafkaProducer | None = None
        #: Decided at start: idempotent where the broker grants producer ids (stream.idempotence).
        self.idempotence: IdempotenceChoice | None = None
        self._pending: set[asyncio.Future[object]] = set()

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._client is None:
            raise RuntimeError(f"{self.producer_id} is not started")
        return self._client

    async def start(self) -> None:
        self.idempotence = await bounded(
            choose_idempotence(self.settings, timeout_s=TIMEOUTS.connect_s),
            TIMEOUTS.connect_s,
            f"{self.producer_id}'s producer-id question",
        )
        log.info("%s: idempotent %s (%s)", self.producer_id, *astuple(self.idempotence))
        self._client = AIOKafkaProducer(
            client_id=self.producer_id,
            acks="all",
            linger_ms=self._linger_ms,
            enable_idempotence=self.idempotence.enabled,  # consumers dedupe by id either way
            # aiokafka gives up (and closes its socket) before our bound cancels it
            request_timeout_ms=TIMEOUTS.request_ms,
            **self.settings.client_kwargs(),
        )
        await bounded(self._producer.start(), TIMEOUTS.connect_s, f"{self.producer_id}'s start")

    async def stop(self, drain_timeout_s: float = TIMEOUTS.flush_s) -> None:
        """Flush (at most ``drain_timeout_s``) and close, each bounded; what the broker did not
        acknowledge by then is logged, not raised (a dead broker must not turn a shutdown into
        a traceback)."""
        try:
            await bounded(self.flush(), drain_timeout_s, f"{self.producer_id}'s last flush")
        except (KafkaError, TimeoutError) as exc:
            log.warning(
                "%s: %d unacknowledged at stop (%s)", self.producer_id, len(self._pending), exc
            )
        finally:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                if self._client is not None:
                    await bounded(
                        self._client.stop(), TIMEOUTS.stop_s, f"{self.producer_id}'s stop"
                    )

    async def send(self, event: Event) -> None:
        """Queue ``event``; delivery is confirmed by :meth:`flush` (or raises there)."""
        topic = self.settings.topics.for_event(type(event))
        await self.send_to(topic, event)

    async def send_to(self, topic: str, event: Event) -> None:
        """Queue ``event`` on an explicit topic (dead letters of foreign topics, tests)."""
        payload = sign_event(event, self.signing_key)
        delivery = await bounded(
            self._producer.send(topic, value=payload, key=event.patient_id.encode("ascii")),
            TIMEOUTS.request_s,
            "a send (metadata)",
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
        """Wait until every queued event is acknowledged, each wait at most
        ``TIMEOUTS.flush_s`` (then BrokerTimeoutError); re-raise the first failure."""
        while self._pending:
            await bounded(asyncio.gather(*list(self._pending)), TIMEOUTS.flush_s, "a flush")
