"""Ingest: every event topic into the console's database, resumable without gap or repeat.

The consumer belongs to no group and commits nothing to Kafka: the database is where the offsets
live, each partition's next offset written in the transaction that stores the records below it
(console.store). After a crash the rows and the offset are both there or both not, so a restart
seeks to the stored offset and reads on. Records that are not valid events are kept as ingest
errors; a broker that stops answering is a warning and a capped back-off, never the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from console.db import Database
from console.store import BatchCounts, Record, store_batch, stored_offsets
from ingest.transport.backoff import Backoff
from stream.errors import BrokerTimeoutError
from stream.settings import KafkaSettings
from stream.timeouts import TIMEOUTS, bounded
from stream.topics import topic_partitions

log = logging.getLogger(__name__)

#: How often a running ingest looks for topics or partitions that appeared since it started.
REDISCOVER_S = 30.0


@dataclass
class IngestResult:
    """What one ingest run did (counted per record read)."""

    stored: int = 0
    repeated: int = 0
    errors: int = 0
    batches: int = 0
    partitions: list[str] = field(default_factory=list)

    def add(self, counts: BatchCounts) -> None:
        self.stored += counts.stored
        self.repeated += counts.repeated
        self.errors += counts.errors
        self.batches += 1


class Ingest:
    """One database fed from the topics of ``settings``; :meth:`run` until stopped."""

    def __init__(self, settings: KafkaSettings, db: Database, *, max_records: int = 500) -> None:
        self._settings = settings
        self._db = db
        self._max_records = max_records
        self._consumer = AIOKafkaConsumer(
            client_id="vagus-console-ingest",
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            request_timeout_ms=TIMEOUTS.request_ms,
            **settings.client_kwargs(),
        )
        self._assigned: list[TopicPartition] = []
        self.result = IngestResult()

    async def start(self) -> None:
        await bounded(self._consumer.start(), TIMEOUTS.connect_s, "the console ingest's start")
        await self._assign()

    async def stop(self) -> None:
        await asyncio.sleep(0)  # aiokafka cancels a task of its own on stop; let it start first
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await bounded(self._consumer.stop(), TIMEOUTS.stop_s, "the console ingest's stop")

    async def _assign(self, *, again: bool = False) -> None:
        """Assign every partition of every event topic, each at its stored offset (``again``:
        also the partitions already assigned, to drop a position the database is not at)."""
        found: list[TopicPartition] = []
        for topic in self._settings.topics.events():
            parts = await topic_partitions(self._settings, topic, timeout_s=TIMEOUTS.request_s)
            found.extend(TopicPartition(topic, p) for p in sorted(parts))
        if set(found) == set(self._assigned) and not again:
            return
        offsets = await asyncio.to_thread(stored_offsets, self._db)
        self._consumer.assign(found)
        for tp in found:
            if (tp.topic, tp.partition) in offsets:
                self._consumer.seek(tp, offsets[tp.topic, tp.partition])
            else:
                await self._consumer.seek_to_beginning(tp)
        self._assigned = found
        self.result.partitions = [f"{tp.topic}/{tp.partition}" for tp in found]

    async def step(self) -> None:
        """One fetch, each partition's records stored with its offset in one transaction."""
        batches = await bounded(
            self._consumer.getmany(timeout_ms=200, max_records=self._max_records),
            TIMEOUTS.fetch_s,
            "a console fetch",
        )
        for tp, records in batches.items():
            rows = [Record(r.offset, r.value) for r in records]
            counts = await asyncio.to_thread(store_batch, self._db, tp.topic, tp.partition, rows)
            self.result.add(counts)

    async def caught_up(self) -> bool:
        """Whether every assigned partition is read to the high watermark a fetch reported."""
        for tp in self._assigned:
            high = self._consumer.highwater(tp)
            if high is None or await self._consumer.position(tp) < high:
                return False
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set, riding out a broker that is away."""
        backoff = Backoff(base_s=1.0, cap_s=30.0)
        loop = asyncio.get_running_loop()
        next_discovery = loop.time() + REDISCOVER_S
        resume = False
        while not stop.is_set():
            try:
                if resume:  # a fetch may have moved past records that were never stored
                    await self._assign(again=True)
                    resume = False
                await self.step()
                if loop.time() >= next_discovery:
                    await self._assign()
                    next_discovery = loop.time() + REDISCOVER_S
            except (KafkaError, BrokerTimeoutError, OSError) as exc:
                log.warning("console ingest: broker unreachable (%s); retrying", exc)
                resume = True
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff.next_delay()):
                        await stop.wait()
                continue
            backoff.reset()


async def run_ingest(
    settings: KafkaSettings, db: Database, stop: asyncio.Event, *, max_records: int = 500
) -> IngestResult:
    """Ingest into ``db`` until ``stop`` is set (what ``vagus console serve`` runs)."""
    ingest = Ingest(settings, db, max_records=max_records)
    await ingest.start()
    try:
        await ingest.run(stop)
    finally:
        await ingest.stop()
    return ingest.result


async def ingest_until_caught_up(
    settings: KafkaSettings, db: Database, *, timeout_s: float = 120.0, max_records: int = 500
) -> IngestResult:
    """Ingest everything on the topics now, then return (``vagus console ingest --once``)."""
    ingest = Ingest(settings, db, max_records=max_records)
    await ingest.start()
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                await ingest.step()
                if await ingest.caught_up():
                    return ingest.result
    finally:
        await ingest.stop()
