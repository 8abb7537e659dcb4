"""What each topic needs from the cluster: cleanup policy, retention, replication, min ISR.

One table, read by topic creation (``vagus topics create``, the demo, the gateway's forwarder)
and by ``vagus topics check``. Replication factor and min ISR come from
:class:`stream.settings.KafkaSettings`; the rest is fixed here, each with the reason for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from stream.topics import INTERNAL_SUFFIXES, TOPIC_SUFFIX

if TYPE_CHECKING:  # stream.settings imports stream.topics, which must not import it back
    from stream.settings import KafkaSettings

DAY_MS = 86_400_000
#: Kafka's "keep for ever" for ``retention.ms``.
FOREVER = -1

CleanupPolicy = Literal["delete", "compact"]


@dataclass(frozen=True, slots=True)
class TopicPolicy:
    """How long a topic keeps its records and how it is cleaned, with the reason."""

    cleanup: CleanupPolicy
    #: ``retention.ms``; None for a compacted topic (compaction keeps each key's latest).
    retention_ms: int | None
    why: str


#: Per topic suffix. Every suffix of :data:`stream.topics.TOPIC_SUFFIX` and of
#: :data:`stream.topics.INTERNAL_SUFFIXES` has an entry (a test holds that).
TOPIC_POLICIES: dict[str, TopicPolicy] = {
    "raw": TopicPolicy(
        "delete",
        7 * DAY_MS,
        "bulky device batches; the gateway's recording keeps the session, a week covers replays",
    ),
    "features": TopicPolicy(
        "delete", 90 * DAY_MS, "inputs to re-score a quarter of sessions with a new model"
    ),
    "stress": TopicPolicy(
        "delete", 90 * DAY_MS, "the scores decisions were based on, for review of a quarter"
    ),
    "sleep": TopicPolicy("delete", 90 * DAY_MS, "sleep epochs gate decisions: kept as scores"),
    "quality": TopicPolicy(
        "delete", 90 * DAY_MS, "signal quality and gaps explain scores: kept as long as they"
    ),
    "commands": TopicPolicy(
        "delete", 365 * DAY_MS, "what was delivered to a patient: a year of clinical follow-up"
    ),
    "decisions": TopicPolicy(
        "delete", 365 * DAY_MS, "why the loop acted or held back: kept with the commands"
    ),
    "outcomes": TopicPolicy(
        "delete", 365 * DAY_MS, "how sessions ended and patients' own controls: with commands"
    ),
    "evaluations": TopicPolicy(
        "delete", 365 * DAY_MS, "each session's measured effect: with the commands it judges"
    ),
    "policy": TopicPolicy(
        "delete",
        FOREVER,
        "never compacted: each version is judged against every earlier one (policy_log)",
    ),
    "audit": TopicPolicy("delete", FOREVER, "the audit trail is never deleted, nor compacted"),
    "deadletter": TopicPolicy(
        "delete", 180 * DAY_MS, "rejected records wait for a person to investigate them"
    ),
    "loopstate": TopicPolicy(
        "compact", None, "only each patient's latest snapshot is ever read (state_store)"
    ),
}


def topic_configs(suffix: str, settings: KafkaSettings) -> dict[str, str]:
    """The topic-level configs to create ``<prefix>.<suffix>`` with (and to check)."""
    policy = TOPIC_POLICIES[suffix]
    configs = {
        "cleanup.policy": policy.cleanup,
        # acks=all waits for this many replicas: one broker lost must not lose an event.
        "min.insync.replicas": str(settings.min_insync_replicas),
    }
    if policy.retention_ms is not None:
        configs["retention.ms"] = str(policy.retention_ms)
    return configs


def topic_suffixes() -> list[str]:
    """Every suffix vagus uses, events and internal state."""
    return sorted({*TOPIC_SUFFIX.values(), *INTERNAL_SUFFIXES})


def configs_by_topic(settings: KafkaSettings) -> dict[str, dict[str, str]]:
    """Topic name -> configs, for every topic of ``settings.topics``."""
    return {
        settings.topics.name(suffix): topic_configs(suffix, settings) for suffix in topic_suffixes()
    }
