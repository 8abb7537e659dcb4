"""Compare a cluster's topics with what vagus needs (``vagus topics check``).

Each mismatch is one line a person can act on. What the broker cannot tell (no DescribeConfigs,
or no value for a config, as the embedded broker for topics created without one) is listed as
not checked: silence there must not read as "correct".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, for_code

from stream.settings import KafkaSettings
from stream.topic_configs import TOPIC_POLICIES, configs_by_topic


@dataclass
class TopicReport:
    """Mismatches found, and what could not be checked (with the reason)."""

    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_topic_set(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> TopicReport:
    """Check every topic of ``settings.topics``: present, partitions, replication, configs."""
    report = TopicReport()
    names = settings.topics.all()
    existing = set(await admin.list_topics())
    present = [name for name in names if name in existing]
    report.problems += [f"{name}: missing" for name in names if name not in existing]
    if not present:
        return report
    for topic in await admin.describe_topics(present):
        report.problems += _layout_problems(topic, settings)
    wanted = configs_by_topic(settings)
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in present]
        )
    except KafkaError as exc:
        report.unchecked.append(
            f"cleanup.policy, retention.ms, min.insync.replicas of every topic: the broker "
            f"does not answer DescribeConfigs ({type(exc).__name__})"
        )
        return report
    unreported: dict[str, list[str]] = defaultdict(list)
    for response in responses:
        for resource in response.resources:
            error_code, _message, _type, name, entries = resource[:5]
            if name not in wanted:
                continue
            if error_code != 0:
                report.unchecked.append(
                    f"{name}: configs not described ({for_code(error_code).__name__})"
                )
                continue
            actual = {str(entry[0]): entry[1] for entry in entries}
            for key, expected in wanted[name].items():
                if actual.get(key) is None:
                    unreported[key].append(name)
                elif not _same(key, actual[key], expected):
                    report.problems.append(_config_problem(name, key, actual[key], expected))
    report.unchecked += [
        f"{key} of {', '.join(topics)}: the broker reports no value"
        for key, topics in sorted(unreported.items())
    ]
    return report


def _layout_problems(topic: dict[str, Any], settings: KafkaSettings) -> list[str]:
    name = topic["topic"]
    if topic["error_code"] != 0:
        return [f"{name}: not described ({for_code(topic['error_code']).__name__})"]
    partitions = topic["partitions"]
    problems = []
    if len(partitions) != settings.partitions:
        problems.append(
            f"{name}: {len(partitions)} partitions, settings say {settings.partitions} (the "
            "closed loop pairs a patient's topics and loopstate by partition number)"
        )
    # distinct brokers: the embedded broker lists its one node once per replica asked for
    replication = min((len(set(p["replicas"])) for p in partitions), default=0)
    if replication != settings.replication_factor:
        problems.append(
            f"{name}: replication factor {replication}, settings say {settings.replication_factor}"
        )
    return problems


def _same(key: str, actual: str, expected: str) -> bool:
    if key == "cleanup.policy":  # a list: "compact,delete" would also delete old snapshots
        return set(actual.split(",")) == set(expected.split(","))
    return actual == expected


def _config_problem(name: str, key: str, actual: str, expected: str) -> str:
    suffix = name.rsplit(".", 1)[-1]
    why = (
        TOPIC_POLICIES[suffix].why if key != "min.insync.replicas" else "kafka.min_insync_replicas"
    )
    return f"{name}: {key} is {actual}, expected {expected} ({why})"
