"""The worker's outputs on faust's producer: queued, not awaited one by one, and never lost
silently.

faust's own Topic.send wraps each record in channel and future objects that cost more than the
send itself; the producer underneath is the same one faust flushes before it commits offsets,
and the worker flushes it (:meth:`OutputQueue.all_delivered`) before any snapshot. A record the
producer finally fails to deliver stops the worker: its inputs are then not committed and run
again after the restart, with the same output ids.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from aiokafka.partitioner import DefaultPartitioner

from closedloop.stats import LoopStats
from closedloop.transport import TunedApp, transactional_id

log = logging.getLogger(__name__)


class DeliveryError(RuntimeError):
    """An output never reached the broker: its input must not be committed."""


class OutputQueue:
    """Sends records on ``app``'s producer, remembers where keys went, and notes failures."""

    def __init__(self, app: TunedApp, stats: LoopStats, *, policy_topic: str, partitions: int):
        self.app = app
        self.stats = stats
        self._policy_topic = policy_topic
        # Exactly-once: every topic has the same partition count (vagus topics check), keys hash
        # as the producer hashes them, so an output's partition is its input's.
        self._partitioner = DefaultPartitioner()
        self._all_partitions = list(range(partitions))
        self._partitions: dict[tuple[str, bytes], int] = {}
        self._undelivered: BaseException | None = None
        self._crash: asyncio.Future[None] | None = None

    async def produce(self, topic: str, key: bytes, value: bytes) -> None:
        """Queue one record; inside a transaction, on its input partition's transaction."""
        partition = self._partitions.get((topic, key))
        if self.app.in_transaction:
            partition = self._partitioner(key, self._all_partitions, self._all_partitions)
            delivery = await self.app.producer.send(
                topic,
                key,
                value,
                partition,
                None,
                None,
                transactional_id=transactional_id(self.app, self._policy_topic, partition),
            )
        else:
            delivery = await self.app.producer.send(topic, key, value, partition, None, None)
        future = cast("asyncio.Future[Any]", delivery)
        future.add_done_callback(self._on_delivered)
        if partition is None:
            future.add_done_callback(lambda done: self._remember_partition(topic, key, done))

    async def all_delivered(self) -> None:
        """Wait for everything queued; refuse to go on (and so to commit) if any was lost."""
        await self.app.producer.flush()
        if self._undelivered is not None:
            raise DeliveryError(f"an output was not delivered: {self._undelivered!r}")

    async def forget_partitions(self) -> None:
        """Empty the key-to-partition cache, so a topic that gained partitions is partitioned by
        the producer again (the worker calls this every minute)."""
        self._partitions.clear()

    def _remember_partition(self, topic: str, key: bytes, delivery: asyncio.Future[Any]) -> None:
        """Keep where the producer's partitioner put a key: hashing it per record is costly."""
        if not delivery.cancelled() and delivery.exception() is None:
            self._partitions[topic, key] = delivery.result().partition

    def _on_delivered(self, delivery: asyncio.Future[Any]) -> None:
        error = None if delivery.cancelled() else delivery.exception()
        if error is None:
            return
        self.stats.failed_deliveries += 1
        self._undelivered = error
        log.error("an output was not delivered, stopping: %r", error)
        self._crash = asyncio.ensure_future(self.app.crash(error))
