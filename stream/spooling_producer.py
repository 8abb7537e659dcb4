"""Store and forward: an :class:`EventProducer` whose events go through a disk spool.

Every event is appended to the :class:`~stream.spool.Spool` (write-ahead) and one forwarder task
sends the spool's head to Kafka in rounds, acknowledging events in the spool only after the
broker's ``acks=all``. With the broker up the spool holds just the events in flight; when it is
unreachable they pile up on disk (bounded; surviving a restart) and drain in their original
order when it returns. Order is strict per partition: a round sends ONE record batch per
(topic, key), which the broker takes or refuses as a whole, and the next round starts only when
this one is settled (plain pipelined sends could let a later batch of a partition succeed after
an earlier one expired). Delivery is at-least-once: an acknowledgement lost with the connection
means a resend, and consumers drop the duplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from ingest.private_files import write_private
from ingest.transport.backoff import Backoff
from stream.codec import decode_event
from stream.errors import SchemaError, StreamError
from stream.events import Event
from stream.idempotence import IdempotenceChoice, choose_idempotence
from stream.producer import EventProducer, ProduceSensor
from stream.settings import KafkaSettings
from stream.signing import GatewayKey, sign_event
from stream.spool import Spool
from stream.spool_hold import HeldEvents
from stream.spool_rounds import send_round
from stream.spool_segments import SpooledEvent
from stream.timeouts import TIMEOUTS, bounded
from stream.topics import create_topic_set

log = logging.getLogger(__name__)
_STATUS_INTERVAL_S = 1.0
#: While the broker stays unreachable, one line this often says for how long and how much waits.
OUTAGE_REPORT_INTERVAL_S = 30.0
#: Events per round trip (whatever the partitions).
_MAX_BATCH = 500
#: Events delivered one by one after a (re)connection before rounds go full.
_CAUTIOUS_EVENTS = 50
#: The broker answered and refused this client (its ACLs): not an outage, a misconfiguration
#: that waiting will not cure, so it is named as such; the events are spooled all the same.
_REFUSALS = (
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)


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
        retry_cap_s: float = 5.0,
        create_topics: bool = False,
        signing_key: GatewayKey | None = None,
    ) -> None:
        # EventProducer.__init__ is not called: it would build a Kafka client that this class
        # never uses (and that warns when collected unclosed). Clients are made per connection.
        self.settings = settings
        self.producer_id = producer_id
        self.signing_key = signing_key  # signed as spooled: the spool holds the wire bytes
        self._sensors = list(sensors)
        self._client: AIOKafkaProducer | None = None
        self._request_timeout_ms = request_timeout_ms
        self.spool = spool
        #: What the disk refused to spool (full, read-only), in order, until it takes it again.
        self.held = HeldEvents()
        self._status_path = status_path
        self._retry = Backoff(base_s=retry_interval_s, cap_s=max(retry_interval_s, retry_cap_s))
        #: Create the topic set (or find it there) before the first event goes out, and again
        #: after each outage: a broker that comes back may have lost them (memory storage).
        self._create_topics = create_topics
        self._topics_pending = create_topics
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.broker_reachable: bool | None = None
        #: Set while the broker is known unreachable: a caller waiting for an answer that must
        #: come through the broker (the gateway's lockstep) stops waiting at once.
        self.unreachable = asyncio.Event()
        self._outage_since: float | None = None
        self._outage_reported = 0.0
        self.last_delivered_ns: int | None = None
        self.delivered = 0
        self.outages = 0
        self._last_status = 0.0
        self._status_dirty = False
        self._failure: Exception | None = None
        #: The refusal's error name while the broker refuses this client's writes, else None.
        self.refusal: str | None = None
        self._cautious_left = _CAUTIOUS_EVENTS
        #: Asked of the broker at each connection (it may have been replaced meanwhile).
        self.idempotence: IdempotenceChoice | None = None

    def _new_client(self, request_timeout_ms: int) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            client_id=self.producer_id,
            acks="all",
            linger_ms=0,
            request_timeout_ms=request_timeout_ms,
            # where the broker grants producer ids (stream.idempotence); consumers dedupe anyway
            enable_idempotence=self.idempotence is not None and self.idempotence.enabled,
            **self.settings.client_kwargs(),
        )

    async def start(self) -> None:
        """Start forwarding; an unreachable broker is not an error here (that is the point)."""
        if self._task is not None:
            return
        try:  # connect now, as EventProducer does, so the first events do not wait for it
            await self._connect()
            self.broker_reachable = True
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning(
                "broker unreachable at start (%s); spooling, retrying in the background",
                type(exc).__name__,
            )
            self.outages += 1
            self.broker_reachable = False
            self._outage_began()
            await self._close_client()
        self._task = asyncio.create_task(self._forward(), name="spool-forwarder")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Drain what the broker takes within ``drain_timeout_s``; the rest stays spooled."""
        with contextlib.suppress(TimeoutError, StreamError):  # a failure was logged already
            async with asyncio.timeout(drain_timeout_s):
                await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._close_client()
        if not self.held.drain(self.spool):
            self.held.lost += len(self.held)
            log.error(
                "%d events lost at stop: the disk refused the spool (%s)",
                len(self.held),
                self.held.refusal,
            )
        if len(self.spool):
            log.warning("%d events stay spooled for the next start", len(self.spool))
        self._write_status(force=True)
        self.spool.close()

    async def send_to(self, topic: str, event: Event) -> None:
        """Append ``event`` to the spool (validated first); the forwarder delivers it."""
        payload = sign_event(event, self.signing_key)
        key = event.patient_id.encode("ascii")
        self.held.store(self.spool, topic=topic, key=key, payload=payload)
        self._wake.set()

    async def flush(self) -> None:
        """Wait until the spool is empty, or until the broker is found unreachable (then the
        spool is synced to disk and the events wait there). Events the disk refused stay
        held in memory (stream.spool_hold); this does not wait for the disk."""
        self.held.drain(self.spool)
        async with self._changed:
            await self._changed.wait_for(
                lambda: (
                    not len(self.spool)
                    or self.broker_reachable is False
                    or self._failure is not None
                )
            )
        if self._failure is not None:
            raise StreamError("the spool forwarder failed") from self._failure
        if len(self.spool):
            self.spool.sync()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _forward(self) -> None:
        try:
            await self._forward_forever()
        except Exception as exc:  # surfaced by flush(), never a silent death
            log.exception("the spool forwarder failed; events stay spooled")
            self._failure = exc
            await self._notify()
            raise

    async def _forward_forever(self) -> None:
        while True:
            self._wake.clear()  # before looking: an append after the look sets it again
            batch = self._next_batch()
            if not batch:
                if self._status_dirty:
                    self._write_status(force=True)
                await self._notify()
                await self._wake.wait()
                continue
            delivered, failure = await self._send(batch)
            if delivered:
                self._acknowledge(delivered)
            if failure is not None:
                self._cautious_left = _CAUTIOUS_EVENTS
            else:
                self._cautious_left = max(0, self._cautious_left - len(delivered))
            if failure is not None:
                await self._on_failure(failure)
            elif not len(self.spool):
                await self._notify()

    def _next_batch(self) -> list[SpooledEvent]:
        """One event per round at first and after every failure, until ``_CAUTIOUS_EVENTS``
        in a row were delivered; then full rounds. A broker that has just (re)started may be
        creating topics, and the embedded one was seen to acknowledge records of concurrent
        batches sent then that it never served (tests/integration/test_broker_outage.py)."""
        return self.spool.peek(1 if self._cautious_left > 0 else _MAX_BATCH)

    async def _send(
        self, batch: list[SpooledEvent]
    ) -> tuple[list[SpooledEvent], BaseException | None]:
        try:
            if self._client is None:
                await self._connect()
            assert self._client is not None
            async with asyncio.timeout(self._request_timeout_ms / 1000 * 2):
                return await send_round(self._client, batch)
        except (KafkaError, OSError, TimeoutError) as exc:
            return [], exc

    async def _connect(self) -> None:
        """A fresh client, after the topic set exists if this producer creates it; each step
        bounded by the request timeout, so an unanswering address cannot stall the forwarder."""
        timeout_s = self._request_timeout_ms / 1000
        if self._topics_pending:
            try:
                created = await create_topic_set(self.settings, timeout_s=timeout_s)
            except (KafkaConnectionError, OSError, TimeoutError):
                raise
            except KafkaError as exc:  # reachable but refusing (e.g. not authorised): go on
                log.warning("cannot create the topics (%s); sending anyway", type(exc).__name__)
            else:
                if created:
                    log.info("created %d topics", len(created))
            self._topics_pending = False
        choice = await choose_idempotence(self.settings, timeout_s=timeout_s)
        if choice != self.idempotence:
            log.info("idempotent delivery %s: %s", "on" if choice.enabled else "off", choice.reason)
        self.idempotence = choice
        self._client = self._new_client(self._request_timeout_ms)
        async with asyncio.timeout(timeout_s):
            await self._client.start()

    def _acknowledge(self, delivered: list[SpooledEvent]) -> None:
        self.spool.ack(delivered[-1].seq)
        self._retry.reset()
        self.delivered += len(delivered)
        self.last_delivered_ns = time.time_ns()
        if self.broker_reachable is False:
            log.warning(
                "broker reachable again after %.0f s; draining %d spooled events",
                self._outage_s(),
                len(self.spool),
            )
        elif self.broker_reachable is None:
            log.info("broker reachable; %d events waiting", len(self.spool))
        self.broker_reachable = True
        self.refusal = None
        self.unreachable.clear()
        self._outage_since = None
        for event in delivered:
            self._tell_sensors(event.topic, event.payload)
        self._status_dirty = True
        self._write_status()

    def _tell_sensors(self, topic: str, payload: bytes) -> None:
        if not self._sensors:
            return
        try:
            delivered = decode_event(payload)
        except SchemaError:  # spooled by an older version: delivered all the same
            return
        for sensor in self._sensors:
            sensor.on_delivered(topic, delivered)

    async def _on_failure(self, exc: BaseException) -> None:
        refusal = type(exc).__name__ if isinstance(exc, _REFUSALS) else None
        if refusal is not None and refusal != self.refusal:
            log.error(
                "the broker refuses this gateway's writes (%s): not authorised; check the "
                "gateway's ACLs and credentials (docs/security.md). Spooling events to disk "
                "(%d waiting), retrying in the background",
                refusal,
                len(self.spool),
            )
        elif refusal is None and (self.broker_reachable is not False or self.refusal is not None):
            log.warning(
                "broker unreachable (%s); spooling events to disk (%d waiting)",
                type(exc).__name__,
                len(self.spool),
            )
        elif self.broker_reachable is False:
            self._report_outage()
        if self.broker_reachable is not False:
            self.outages += 1
            self._outage_began()
        self.refusal = refusal
        self.broker_reachable = False
        self._topics_pending = self._create_topics
        await self._close_client()  # a fresh client after an outage: no stale metadata
        self._write_status(force=True)
        await self._notify()
        await asyncio.sleep(self._retry.next_delay())

    def _outage_began(self) -> None:
        self.unreachable.set()
        self._outage_since = self._outage_reported = time.monotonic()

    def _outage_s(self) -> float:
        return 0.0 if self._outage_since is None else time.monotonic() - self._outage_since

    def _report_outage(self) -> None:
        """One line every ``OUTAGE_REPORT_INTERVAL_S`` while the outage lasts, never per retry."""
        now = time.monotonic()
        if now - self._outage_reported >= OUTAGE_REPORT_INTERVAL_S:
            self._outage_reported = now
            log.warning(
                "broker %s for %.0f s, %d events spooled",
                "unreachable" if self.refusal is None else f"refusing writes ({self.refusal})",
                self._outage_s(),
                len(self.spool),
            )

    async def _close_client(self) -> None:
        """Close the client within ``TIMEOUTS.stop_s``: aiokafka's stop waits for the records it
        still holds, up to its request timeout, and a broker killed mid-round (seen with Apache
        Kafka: 5 s) must not hold a shutdown. Records it held stay in the spool."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await bounded(client.stop(), TIMEOUTS.stop_s, "the spool forwarder's client stop")

    def status(self) -> dict[str, object]:
        stats = self.spool.stats
        return {
            "updated_ns": time.time_ns(),
            "last_event_sent_ns": self.last_delivered_ns,
            "broker_reachable": self.broker_reachable,
            "broker_refusal": self.refusal,
            "delivered": self.delivered,
            "outages": self.outages,
            "spool": {
                "events": stats.events,
                "bytes": stats.bytes,
                "oldest_spooled_at_ns": stats.oldest_spooled_at_ns,
                "evicted": stats.evicted,
                "torn_tail_bytes": stats.torn_tail_bytes,
                "lost_since_made": {
                    "evicted": self.spool.losses.evicted,
                    "torn_tails": self.spool.losses.torn_tails,
                },
            },
            "held": {
                "events": len(self.held),
                "lost": self.held.lost,
                "disk_refusal": self.held.refusal,
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
        try:  # health data: owner-only, like the spool itself
            write_private(self._status_path, json.dumps(self.status()).encode() + b"\n")
        except OSError as exc:
            log.warning("cannot write the gateway status file: %s", exc.strerror)
