"""Idempotent producers where the broker offers them, plain ones where it does not.

An idempotent producer (``enable_idempotence``) numbers its batches so the broker drops a
batch a retry sends twice: no duplicate from a lost acknowledgement. It needs a producer id
from the broker (the InitProducerId request). Apache Kafka grants one; the embedded broker
advertises the request but answers it with an error (docs/broker.md), and aiokafka then fails
at the first send. So with ``kafka.idempotence = "auto"`` we ask the broker once for an id, the
way the producer would, and use idempotence only when it gets one. Consumers still drop repeats
by event id either way: idempotence only removes one source of them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    NodeNotReadyError,
    RequestTimedOutError,
    for_code,
)
from aiokafka.protocol.transaction import InitProducerIdRequest

from stream.settings import KafkaSettings

#: The transaction timeout an id request carries; unused without a transactional id.
_TRANSACTION_TIMEOUT_MS = 60_000
#: Pause between tries while the broker answers with a retriable error.
_RETRY_S = 0.2
#: These mean "unreachable", not "unsupported": the caller treats them as an outage.
_UNREACHABLE = (KafkaConnectionError, NodeNotReadyError, RequestTimedOutError)


@dataclass(frozen=True, slots=True)
class IdempotenceChoice:
    """Whether producers run idempotent, and why (logged, and shown by the tests)."""

    enabled: bool
    reason: str


async def choose_idempotence(settings: KafkaSettings, *, timeout_s: float) -> IdempotenceChoice:
    """What ``settings.idempotence`` means on this broker: ``on`` and ``off`` as said, ``auto``
    by asking it (:func:`probe_idempotence`)."""
    if settings.idempotence == "on":
        return IdempotenceChoice(True, "kafka.idempotence is on")
    if settings.idempotence == "off":
        return IdempotenceChoice(False, "kafka.idempotence is off")
    return await probe_idempotence(settings, timeout_s=timeout_s)


async def probe_idempotence(settings: KafkaSettings, *, timeout_s: float) -> IdempotenceChoice:
    """Ask a broker for a producer id, again while it answers with a retriable error (a
    transaction coordinator still loading after a start); no answer in time means "no" for now.
    Raises the client's connection errors or TimeoutError when the broker cannot be reached
    at all (the caller's outage handling)."""
    client = AIOKafkaClient(request_timeout_ms=int(timeout_s * 1000), **settings.client_kwargs())
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            await client.bootstrap()
        node = min(broker.nodeId for broker in client.cluster.brokers())
        while True:
            try:
                error = await _ask_for_producer_id(client, node, deadline)
            except (RequestTimedOutError, TimeoutError):
                # reachable but slow (a first id block being allocated on a busy machine):
                # plain delivery this time; callers ask again when they reconnect
                return IdempotenceChoice(
                    False, f"no answer to InitProducerId within {timeout_s:g} s"
                )
            if error is None:
                return IdempotenceChoice(True, "the broker grants producer ids (InitProducerId)")
            retriable = getattr(error, "retriable", False)
            if not retriable:
                return IdempotenceChoice(
                    False, f"the broker refuses producer ids (InitProducerId: {error.__name__})"
                )
            if asyncio.get_running_loop().time() + _RETRY_S > deadline:
                return IdempotenceChoice(
                    False,
                    f"the broker was not ready to grant producer ids within {timeout_s:g} s "
                    f"(InitProducerId: {error.__name__})",
                )
            await asyncio.sleep(_RETRY_S)
    finally:
        await client.close()


async def _ask_for_producer_id(
    client: AIOKafkaClient, node: int, deadline: float
) -> type[KafkaError] | None:
    """One InitProducerId request: None when granted, else the error's class."""
    remaining = max(0.1, deadline - asyncio.get_running_loop().time())
    try:
        async with asyncio.timeout(remaining):
            response = await client.send(node, InitProducerIdRequest(None, _TRANSACTION_TIMEOUT_MS))
    except _UNREACHABLE:
        raise
    except KafkaError as exc:  # e.g. the request is not supported at all
        return type(exc)
    if response.error_code == 0:
        return None
    error: type[KafkaError] = for_code(response.error_code)
    return error
