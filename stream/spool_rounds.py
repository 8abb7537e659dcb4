"""One round of the spool forwarder: events to Kafka with strict order per partition.

A round sends ONE record batch per (topic, key), i.e. per partition and patient. A record batch
is taken or refused by the broker as a whole, and the forwarder starts the next round only when
this one is settled, so no event can overtake an earlier one of its partition whatever fails
(plain pipelined sends could let a later batch of a partition succeed after an earlier one
expired). What is acknowledged is the longest delivered prefix of the round; anything after the
first failure is sent again next round (a duplicate at worst, dropped by consumers' event ids).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from stream.spool_segments import SpooledEvent

#: The key-to-partition mapping aiokafka's send() uses, so keyed order is Kafka's usual one.
_PARTITIONER = DefaultPartitioner()


async def send_round(
    client: AIOKafkaProducer, batch: list[SpooledEvent]
) -> tuple[list[SpooledEvent], BaseException | None]:
    """Send ``batch``; return its longest acknowledged prefix and the first failure."""
    groups: dict[tuple[str, bytes], list[SpooledEvent]] = {}
    for event in batch:
        groups.setdefault((event.topic, event.key), []).append(event)
    # a partition whose record batch is full cuts the round there for every partition, so
    # nothing after the cut is sent now and then again (a duplicate) next round
    cuts = [
        events[len(taken)].seq
        for events in groups.values()
        if len(taken := _fill(client.create_batch(), events)) < len(events)
    ]
    cut = min(cuts, default=None)
    sent: list[tuple[list[SpooledEvent], asyncio.Future[Any]]] = []
    for (topic, key), events in groups.items():
        partitions = sorted(await client.partitions_for(topic))
        builder = client.create_batch()
        taken = _fill(builder, [e for e in events if cut is None or e.seq < cut])
        if taken:
            partition = _PARTITIONER(key, partitions, partitions)
            sent.append((taken, await client.send_batch(builder, topic, partition=partition)))
    results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
    delivered: set[int] = set()
    failure: BaseException | None = None
    for (taken, _), result in zip(sent, results, strict=True):
        if isinstance(result, BaseException):
            failure = failure or result
        else:
            delivered.update(e.seq for e in taken)
    return list(itertools.takewhile(lambda e: e.seq in delivered, batch)), failure


def _fill(builder: Any, events: list[SpooledEvent]) -> list[SpooledEvent]:
    """Append events in order until the record batch is full; return those taken."""
    taken = []
    for event in events:
        if builder.append(key=event.key, value=event.payload, timestamp=None) is None:
            break
        taken.append(event)
    return taken
