"""`vagus topics create` and `vagus topics check`, as a user runs them, on both brokers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stream.settings import KafkaSettings
from tests.helpers import run_vagus
from vagus.cli import build_parser
from vagus.config import VagusConfig


@pytest.mark.parametrize(
    "argv",
    [
        ["topics", "check", "--bootstrap", "h:1", "--json"],
        ["topics", "--bootstrap", "h:1", "--json", "check"],
    ],
)
def test_options_go_before_or_after_the_action(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.topics_action, args.bootstrap, args.json) == ("check", "h:1", True)


def test_topics_alone_still_creates() -> None:
    args = build_parser().parse_args(["topics"])
    assert (args.topics_action, args.bootstrap, args.json) == (None, None, False)


def _config(kafka: KafkaSettings, tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_bytes(msgspec.json.encode(VagusConfig(kafka=kafka)))
    return str(path)


def _last_json(stdout: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = json.loads(stdout.strip().splitlines()[-1])
    return parsed


@pytest.mark.broker
def test_create_then_check_finds_nothing_to_report(kafka: KafkaSettings, tmp_path: Path) -> None:
    config = _config(kafka, tmp_path)
    created = run_vagus("--config", config, "topics", "create")
    assert created.returncode == 0, created.stderr
    assert created.stdout.split() == kafka.topics.all()
    checked = run_vagus("--config", config, "topics", "check", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert _last_json(checked.stdout) == {"problems": [], "unchecked": []}
    assert f"all {len(kafka.topics.all())} topics as vagus needs them" in checked.stdout


@pytest.mark.broker
async def test_check_reports_each_mismatch_and_exits_1(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    loopstate = kafka.topics.name("loopstate")
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:  # only this topic exists, compacted nowhere
        await admin.create_topics(
            [NewTopic(loopstate, kafka.partitions, 1, topic_configs={"cleanup.policy": "delete"})]
        )
    finally:
        await admin.close()
    checked = run_vagus("--config", _config(kafka, tmp_path), "topics", "check", "--json")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    problems = _last_json(checked.stdout)["problems"]
    missing = [name for name in kafka.topics.all() if name != loopstate]
    assert [f"{name}: missing" for name in missing] == problems[: len(missing)]
    assert problems[len(missing) :] == [
        f"{loopstate}: cleanup.policy is delete, expected compact (only each patient's latest "
        "snapshot is ever read (state_store))"
    ]
    lines = checked.stdout.splitlines()
    assert f"MISMATCH {loopstate}: cleanup.policy is delete, expected compact" in "\n".join(lines)
    assert f"{len(problems)} mismatches in {len(kafka.topics.all())} topics" in lines


@pytest.mark.broker
def test_more_replicas_than_brokers_is_refused_or_reported(
    kafka: KafkaSettings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if os.environ.get("VAGUS_TEST_BOOTSTRAP"):
        pytest.skip("the external test broker's kind is unknown")
    config = _config(msgspec.structs.replace(kafka, replication_factor=3), tmp_path)
    created = run_vagus("--config", config, "topics", "create")
    if request.node.callspec.params["kafka_bootstrap"] == "kafka":  # one node cannot hold 3
        assert created.returncode == 2, created.stdout + created.stderr
        assert "topics refused:" in created.stderr
        assert "InvalidReplicationFactorError" in created.stderr
        return
    # the embedded broker accepts any factor and keeps one copy: the check says so
    assert created.returncode == 0, created.stderr
    checked = run_vagus("--config", config, "topics", "check", "--json")
    assert checked.returncode == 1
    problems = _last_json(checked.stdout)["problems"]
    assert problems == [
        f"{name}: replication factor 1, settings say 3" for name in kafka.topics.all()
    ]
