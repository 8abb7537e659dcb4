"""The topic set: which event types live on which topic, and explicit creation.

Topics are created up front with configured partition counts, because the bundled broker
auto-creates unknown topics with 4 partitions and real clusters often forbid auto-creation; a
pipeline that relies on either breaks when it moves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    for_code,
)

from stream.events import (
    AuditEntry,
    DeadLetter,
    Event,
    FeatureWindow,
    GatewayHealth,
    InterventionCommand,
    InterventionOutcome,
    LoopDecision,
    PatientControl,
    PolicyVersion,
    RawNotificationBatch,
    SessionEvaluation,
    SignalQuality,
    SleepWakeEpoch,
    StreamGap,
    StreamStarted,
    StressEpisode,
    StressScore,
)

if TYPE_CHECKING:  # stream.settings imports this module
    from stream.settings import KafkaSettings

#: Topic suffix by event type; the configured prefix goes in front (``vagus.stress``).
TOPIC_SUFFIX: dict[type[Event], str] = {
    RawNotificationBatch: "raw",
    FeatureWindow: "features",
    StressScore: "stress",
    StressEpisode: "stress",
    SleepWakeEpoch: "sleep",
    SignalQuality: "quality",
    StreamGap: "quality",
    StreamStarted: "quality",
    GatewayHealth: "quality",
    InterventionCommand: "commands",
    LoopDecision: "decisions",
    InterventionOutcome: "outcomes",
    PatientControl: "outcomes",
    SessionEvaluation: "evaluations",
    PolicyVersion: "policy",
    AuditEntry: "audit",
    DeadLetter: "deadletter",
}


#: Topics that hold internal state rather than events (compact them on a real Kafka).
INTERNAL_SUFFIXES = ("loopstate",)


@dataclass(frozen=True, slots=True)
class TopicSet:
    """Topic names under one prefix; tests give each run its own prefix."""

    prefix: str = "vagus"

    def name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    def for_event(self, event_type: type[Event]) -> str:
        return self.name(TOPIC_SUFFIX[event_type])

    def events(self) -> list[str]:
        """The topics that carry events (what an audit consumer reads)."""
        return sorted({self.name(suffix) for suffix in TOPIC_SUFFIX.values()})

    def all(self) -> list[str]:
        """Every topic vagus uses: event topics and internal state (``loopstate``)."""
        suffixes = {*TOPIC_SUFFIX.values(), *INTERNAL_SUFFIXES}
        return sorted(self.name(suffix) for suffix in suffixes)


class TopicCreationError(KafkaError):  # type: ignore[misc]  # aiokafka is untyped
    """The cluster refused to create some topics (too few brokers for the replication, a
    config it rejects, no permission); the message names each topic and the broker's error."""


async def ensure_topics(
    admin: AIOKafkaAdminClient,
    names: list[str],
    *,
    partitions: int,
    replication_factor: int,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Create the missing topics among ``names``, each with its ``configs`` (by topic name,
    see stream.topic_configs); return the ones this call created. Raises
    :class:`TopicCreationError` when the cluster refuses any (TopicAuthorizationFailedError
    when every refusal is for want of permission)."""
    existing = set(await admin.list_topics())  # under ACLs: only the topics we may describe
    missing = [name for name in names if name not in existing]
    if missing:
        configs = configs or {}
        new = [
            NewTopic(
                name, partitions, replication_factor, topic_configs=dict(configs.get(name, {}))
            )
            for name in missing
        ]
        # Another process may create them between our list and create: same outcome.
        with contextlib.suppress(TopicAlreadyExistsError):
            response = await admin.create_topics(new)
            # the admin client returns per-topic errors (a refused CREATE) instead of raising
            errors = [
                e for e in response.topic_errors if e[1] not in (0, TopicAlreadyExistsError.errno)
            ]
            if errors and all(e[1] == TopicAuthorizationFailedError.errno for e in errors):
                raise TopicAuthorizationFailedError(
                    "creating " + ", ".join(str(e[0]) for e in errors)
                )
            if errors:
                raise TopicCreationError("topics refused: " + "; ".join(map(_refusal, errors)))
    return missing


def _refusal(error: tuple[object, ...]) -> str:
    """One topic's CreateTopics error as text: ``(name, code[, message])`` by protocol version."""
    name, code = error[0], int(str(error[1]))
    message = error[2] if len(error) > 2 and error[2] else None  # v1+ carries a message
    return f"{name}: {for_code(code).__name__}" + (f" ({message})" if message else "")


async def create_topic_set(settings: KafkaSettings, *, timeout_s: float = 10.0) -> list[str]:
    """Create the missing topics of ``settings.topics`` (one bounded attempt); returns the
    ones created. Raises the client's ``KafkaError``/``OSError``/``TimeoutError`` when the
    broker cannot be reached, for the caller to retry (a gateway does, in the background)."""
    admin = AIOKafkaAdminClient(
        request_timeout_ms=int(timeout_s * 1000), **settings.client_kwargs()
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            return await ensure_topic_set(admin, settings)
    finally:
        await admin.close()


async def ensure_topic_set(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> list[str]:
    """Create the missing topics of ``settings.topics`` with their partitions, replication and
    configs (stream.topic_configs); return the ones created."""
    from stream.topic_configs import configs_by_topic  # noqa: PLC0415 - it imports this module

    return await ensure_topics(
        admin,
        settings.topics.all(),
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        configs=configs_by_topic(settings),
    )


async def topic_partitions(settings: KafkaSettings, topic: str, *, timeout_s: float) -> set[int]:
    """The partition numbers of ``topic`` (empty when it does not exist), asked of the cluster.

    An assign-only consumer knows a topic's partitions only once a metadata request names it,
    and aiokafka's consumer has no public way to ask; tansu answers every metadata request with
    every topic, Apache Kafka only with those named, so readers ask here when they do not know."""
    admin = AIOKafkaAdminClient(
        request_timeout_ms=int(timeout_s * 1000), **settings.client_kwargs()
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if any(t["error_code"] == TopicAuthorizationFailedError.errno for t in described):
        # not "no such topic": a reader without READ must not see an empty log
        raise TopicAuthorizationFailedError(topic)
    return {
        int(p["partition"])
        for t in described
        if t["topic"] == topic and t["error_code"] == 0
        for p in t["partitions"]
    }


async def until_writable(
    settings: KafkaSettings, names: list[str], *, partitions: int, timeout_s: float
) -> None:
    """Wait until every partition of ``names`` answers at its leader (an end offset), or raise
    TimeoutError after ``timeout_s``.

    Apache Kafka creates topics asynchronously: a producer that writes to one at once meets
    UnknownTopicOrPartition, then NotLeaderForPartition until the broker has taken up the
    leadership it was given (over a second on a loaded two-core machine; with a one-second
    request timeout a spooling producer reported the broker unreachable). tansu's topics are
    ready when created."""
    consumer = AIOKafkaConsumer(
        request_timeout_ms=int(timeout_s * 1000), **settings.client_kwargs()
    )
    try:
        async with asyncio.timeout(timeout_s):
            await consumer.start()
            await consumer.end_offsets(
                [TopicPartition(name, p) for name in names for p in range(partitions)]
            )
    finally:
        await consumer.stop()
