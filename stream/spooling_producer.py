"""Store and forward: an :class:`EventProducer` whose events go through a disk spool.

Every event is appended to the :class:`~stream.spool.Spool` (write-ahead) and one forwarder task
sends the spool's head to Kafka, one event at a time, acknowledging it in the spool only after
the broker's ``acks=all``. With the broker up, the spool holds just the event in flight; when the
broker is unreachable, events pile up on disk (bounded; survives a restart) and drain in their
original order when it returns. One event in flight at a time is what makes the order strict
(aiokafka batches of one partition could otherwise expire out of order during an outage); it
costs a round trip per event (~0.6 ms on the embedded broker), far above the gateway's rate.
Delivery is at-least-once: an acknowledgement lost with the connection means a resend, and
consumers drop the duplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from stream.codec import decode_event, encode_event
from stream.events import Event
from stream.producer import EventProducer, ProduceSensor
from stream.settings import KafkaSettings
from stream.spool import Spool

log = logging.getLogger(__name__)
_STATUS_INTERVAL_S = 1.0


class SpoolingProducer(EventProducer):
    """Drop-in for :class:`EventProducer`; ``flush`` returns once every event is delivered, or
    durably spooled while the broker is unreachable."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        producer_id: str,
        spool: Spool,
        sensors: Sequence[ProduceSensor] = (),
        status_path: Path | None = None,
        request_timeout_ms: int = 5000,
        retry_interval_s: float = 1.0,
    ) -> None:
        # EventProducer.__init__ is not called: it would build a Kafka client that this class
        # never uses (and that warns when collected unclosed). Clients are made per connection.
        self.settings = settings
        self.producer_id = producer_id
        self._sensors = list(sensors)
        self._client: AIOKafkaProducer | None = None
        self._request_timeout_ms = request_timeout_ms
        self.spool = spool
        self._status_path = status_path
        self._retry_interval_s = retry_interval_s
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.broker_reachable: bool | None = None
        self.last_delivered_ns: int | None = None
        self.delivered = 0
        self.outages = 0
        self._last_status = 0.0
        self._status_dirty = False

    def _new_client(self, request_timeout_ms: int) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            client_id=self.producer_id,
            acks="all",
            linger_ms=0,
            request_timeout_ms=request_timeout_ms,
            enable_idempotence=False,  # unsupported by the bundled broker; consumers dedupe
            **self.settings.client_kwargs(),
        )

    async def start(self) -> None:
        """Start forwarding; an unreachable broker is not an error here (that is the point)."""
        if self._task is None:
            self._task = asyncio.create_task(self._forward(), name="spool-forwarder")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Drain what the broker takes within ``drain_timeout_s``; the rest stays spooled."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_timeout_s):
                await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_client()
        if len(self.spool):
            log.warning("%d events stay spooled for the next start", len(self.spool))
        self._write_status(force=True)
        self.spool.close()

    async def send_to(self, topic: str, event: Event) -> None:
        """Append ``event`` to the spool (validated first); the forwarder delivers it."""
        payload = encode_event(event)
        self.spool.append(topic=topic, key=event.patient_id.encode("ascii"), payload=payload)
        self._wake.set()

    async def flush(self) -> None:
        """Wait until the spool is empty, or until the broker is found unreachable (then the
        spool is synced to disk and the events wait there)."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: not len(self.spool) or self.broker_reachable is False
            )
        if len(self.spool):
            self.spool.sync()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _forward(self) -> None:
        while True:
            head = self.spool.peek(1)
            if not head:
                if self._status_dirty:
                    self._write_status(force=True)
                await self._notify()
                self._wake.clear()
                await self._wake.wait()
                continue
            event = head[0]
            try:
                if self._client is None:
                    self._client = self._new_client(self._request_timeout_ms)
                    await self._client.start()
                async with asyncio.timeout(self._request_timeout_ms / 1000 * 2):
                    await self._client.send_and_wait(event.topic, event.payload, key=event.key)
            except (KafkaError, OSError, TimeoutError) as exc:
                await self._on_failure(exc)
                continue
            self.spool.ack(event.seq)
            self.delivered += 1
            self.last_delivered_ns = time.time_ns()
            if self.broker_reachable is not True:
                log.warning("broker reachable; draining %d spooled events", len(self.spool))
            self.broker_reachable = True
            delivered = decode_event(event.payload)
            for sensor in self._sensors:
                sensor.on_delivered(event.topic, delivered)
            self._status_dirty = True
            self._write_status()
            if not len(self.spool):
                await self._notify()

    async def _on_failure(self, exc: BaseException) -> None:
        if self.broker_reachable is not False:
            self.outages += 1
            log.warning(
                "broker unreachable (%s); spooling events to disk (%d waiting)",
                type(exc).__name__,
                len(self.spool),
            )
        self.broker_reachable = False
        await self._close_client()  # a fresh client after an outage: no stale metadata
        self._write_status(force=True)
        await self._notify()
        await asyncio.sleep(self._retry_interval_s)

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(KafkaError, OSError):
                await client.stop()

    def status(self) -> dict[str, object]:
        stats = self.spool.stats
        return {
            "updated_ns": time.time_ns(),
            "last_event_sent_ns": self.last_delivered_ns,
            "broker_reachable": self.broker_reachable,
            "delivered": self.delivered,
            "outages": self.outages,
            "spool": {
                "events": stats.events,
                "bytes": stats.bytes,
                "oldest_spooled_at_ns": stats.oldest_spooled_at_ns,
                "evicted": stats.evicted,
                "torn_tail_bytes": stats.torn_tail_bytes,
            },
        }

    def _write_status(self, *, force: bool = False) -> None:
        """A tiny JSON status for `vagus doctor`, replaced atomically at most once a second."""
        if self._status_path is None:
            return
        now = time.monotonic()
        if not force and now - self._last_status < _STATUS_INTERVAL_S:
            return
        self._last_status = now
        self._status_dirty = False
        temporary = self._status_path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(self.status()) + "\n")
            os.replace(temporary, self._status_path)
        except OSError as exc:
            log.warning("cannot write the gateway status file: %s", exc.strerror)
