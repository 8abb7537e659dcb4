"""`vagus topics [create|check]`: make the topic set with its configs, or audit a cluster's.

``vagus topics`` alone is ``create`` (as before the subcommands existed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from stream.settings import KafkaSettings
from vagus.commands.common import Handlers, run_async, with_bootstrap
from vagus.config import ConfigError, VagusConfig

#: How long `topics` waits for a cluster to list the partitions of topics it has just created
#: (a real Kafka's metadata can lag a create by a moment); still missing then, they show null.
DESCRIBE_TIMEOUT_S = 10.0
#: Exit status of `topics check` when a topic is missing or misconfigured.
MISMATCH_STATUS = 1


def register(commands: Any) -> Handlers:
    topics = commands.add_parser(
        "topics",
        help="create or check the topic set on a Kafka",
        description="create (the default): make the topics vagus uses that are missing, with "
        "the configured partitions, replication factor, min ISR, cleanup policy and retention "
        "(docs/broker.md), and list them all; safe to run again. check: report every topic "
        "that is missing or differs from what vagus needs; exit 1 when any does.",
    )
    _add_options(topics, defaults=True)
    actions = topics.add_subparsers(dest="topics_action", metavar="ACTION")
    for name, what, description in (
        (
            "create",
            "create the missing topics",
            "Create the topics vagus uses that are missing, with their partitions, replication, "
            "min ISR, cleanup policy and retention, then list them all. Safe to run again; run "
            "it once before the first gateway or worker starts against a new Kafka.",
        ),
        (
            "check",
            "check the topics",
            "Report each topic that is missing or differs from what vagus needs (partitions, "
            "replication, cleanup policy, retention, min ISR), one line each, and what the "
            "broker could not tell; exit 1 when anything differs.",
        ),
    ):
        # defaults=False: an option given before the action is not reset by the action's.
        parser = actions.add_parser(name, help=what, description=description)
        _add_options(parser, defaults=False)
    return {"topics": cmd_topics}


def _add_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """--bootstrap and --json, before or after the action; only ``topics`` sets defaults."""
    parser.add_argument(
        "--bootstrap",
        default=None if defaults else argparse.SUPPRESS,
        help="Kafka bootstrap address (default: config)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="last line: one JSON object with the result",
    )


def cmd_topics(args: argparse.Namespace, config: VagusConfig) -> int:
    kafka = with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("topics needs --bootstrap or kafka.bootstrap")
    if args.topics_action == "check":
        return run_async(lambda: _check(kafka, as_json=args.json))
    return run_async(lambda: _create(kafka, as_json=args.json))


async def _create(kafka: KafkaSettings, *, as_json: bool) -> int:
    from stream.topics import TopicCreationError  # noqa: PLC0415

    try:
        topics = await ensure_and_describe(kafka)
    except TopicCreationError as exc:  # e.g. replication_factor above the number of brokers
        print(f"vagus: {exc}", file=sys.stderr)
        return 2
    print("\n".join(t["topic"] for t in topics))
    if as_json:
        print(json.dumps({"topics": topics}))
    return 0


async def _check(kafka: KafkaSettings, *, as_json: bool) -> int:
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415

    from stream.timeouts import TIMEOUTS, bounded  # noqa: PLC0415
    from stream.topic_check import check_topic_set  # noqa: PLC0415

    admin = AIOKafkaAdminClient(request_timeout_ms=TIMEOUTS.request_ms, **kafka.client_kwargs())
    try:
        await bounded(admin.start(), TIMEOUTS.connect_s, "the admin client's start")
        report = await bounded(
            check_topic_set(admin, kafka), TIMEOUTS.request_s * 4, "the topic check"
        )
    finally:
        await admin.close()
    for line in report.problems:
        print(f"MISMATCH {line}")
    for line in report.unchecked:
        print(f"NOT CHECKED {line}")
    total = len(kafka.topics.all())
    if report.problems:
        print(f"{len(report.problems)} mismatches in {total} topics")
    elif report.unchecked:
        print(f"no mismatch in what could be checked; {len(report.unchecked)} items not checked")
    else:
        print(f"all {total} topics as vagus needs them")
    if as_json:
        print(json.dumps({"problems": report.problems, "unchecked": report.unchecked}))
    return 0 if report.ok else MISMATCH_STATUS


async def ensure_and_describe(kafka: KafkaSettings) -> list[dict[str, Any]]:
    """Create the missing topics, then report every topic as the cluster has it: an existing
    topic keeps the partitions it was made with, whatever the configuration says now."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415

    from stream.timeouts import TIMEOUTS, bounded  # noqa: PLC0415
    from stream.topics import ensure_topic_set  # noqa: PLC0415

    names = kafka.topics.all()
    admin = AIOKafkaAdminClient(request_timeout_ms=TIMEOUTS.request_ms, **kafka.client_kwargs())
    try:
        await bounded(admin.start(), TIMEOUTS.connect_s, "the admin client's start")
        created = set(
            await bounded(
                ensure_topic_set(admin, kafka),
                TIMEOUTS.request_s * 2,  # a list and a create
                "topic creation",
            )
        )
        found: dict[str, list[dict[str, Any]]] = {}
        deadline = asyncio.get_running_loop().time() + DESCRIBE_TIMEOUT_S
        while True:
            described = await bounded(
                admin.describe_topics(names), TIMEOUTS.request_s, "a topic description"
            )
            found = {t["topic"]: t["partitions"] for t in described if t["error_code"] == 0}
            done = all(found.get(name) for name in names)
            if done or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    return [
        {
            "topic": name,
            "partitions": len(found[name]) if found.get(name) else None,
            "replication_factor": (
                max(len(p["replicas"]) for p in found[name]) if found.get(name) else None
            ),
            "created": name in created,
        }
        for name in names
    ]
