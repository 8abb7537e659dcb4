"""Topic configs, `check_topic_set` and idempotent producers, on both brokers.

Apache Kafka applies and reports every topic config and grants producer ids; the embedded broker
echoes the configs a topic was created with, reports none for a topic created without, and
refuses producer ids: each test states which outcome it expects where.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stream.errors import ConfigurationError
from stream.idempotence import choose_idempotence
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from stream.topic_check import check_topic_set
from stream.topic_configs import TOPIC_POLICIES, configs_by_topic, topic_configs, topic_suffixes
from stream.topics import ensure_topic_set, ensure_topics
from tests.helpers import stream_gap

DAY_MS = 86_400_000


def test_every_topic_has_a_policy_with_a_reason() -> None:
    assert set(topic_suffixes()) == set(TOPIC_POLICIES)
    assert all(policy.why for policy in TOPIC_POLICIES.values())


def test_configs_follow_the_clinical_choices() -> None:
    settings = KafkaSettings(replication_factor=3, min_insync_replicas=2)
    assert topic_configs("loopstate", settings) == {
        "cleanup.policy": "compact",
        "min.insync.replicas": "2",
    }
    # the policy log is folded from its first version: compaction would break it
    assert topic_configs("policy", settings)["cleanup.policy"] == "delete"
    assert topic_configs("policy", settings)["retention.ms"] == "-1"
    assert topic_configs("audit", settings)["retention.ms"] == "-1"
    assert int(topic_configs("raw", settings)["retention.ms"]) == 7 * DAY_MS
    assert int(topic_configs("deadletter", settings)["retention.ms"]) > 7 * DAY_MS
    assert set(configs_by_topic(settings)) == set(settings.topics.all())


def test_min_insync_replicas_cannot_exceed_the_replication_factor() -> None:
    with pytest.raises(ConfigurationError, match="min_insync_replicas"):
        KafkaSettings(replication_factor=2, min_insync_replicas=3)
    with pytest.raises(msgspec.ValidationError, match="min_insync_replicas"):  # from a file
        msgspec.convert({"min_insync_replicas": 2}, KafkaSettings)
    assert KafkaSettings(replication_factor=3, min_insync_replicas=2).min_insync_replicas == 2


def _apache_kafka(request: pytest.FixtureRequest) -> bool:
    """True on the local Apache Kafka, False on the embedded broker; an external broker
    (VAGUS_TEST_BOOTSTRAP) is of unknown kind, so tests that depend on it skip."""
    if os.environ.get("VAGUS_TEST_BOOTSTRAP"):
        pytest.skip("the external test broker's kind is unknown")
    return bool(request.node.callspec.params["kafka_bootstrap"] == "kafka")


@pytest.fixture
async def admin(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(**kafka.client_kwargs())
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def _described(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait until every topic lists its partitions (Apache Kafka creates them asynchronously)."""
    async with asyncio.timeout(15):
        while not all(t["partitions"] for t in await admin.describe_topics(names)):
            await asyncio.sleep(0.1)


@pytest.mark.broker
async def test_created_topics_pass_the_check(
    kafka: KafkaSettings, admin: AIOKafkaAdminClient
) -> None:
    assert sorted(await ensure_topic_set(admin, kafka)) == kafka.topics.all()
    await _described(admin, kafka.topics.all())
    report = await check_topic_set(admin, kafka)
    assert report.problems == []
    assert report.unchecked == []  # both brokers report the configs a topic was created with


@pytest.mark.broker
async def test_a_misconfigured_topic_set_is_reported_line_by_line(
    kafka: KafkaSettings, admin: AIOKafkaAdminClient
) -> None:
    loopstate, audit = kafka.topics.name("loopstate"), kafka.topics.name("audit")
    await admin.create_topics(
        [NewTopic(loopstate, 1, 1, topic_configs={"cleanup.policy": "delete"})]
    )
    others = [name for name in kafka.topics.all() if name not in (loopstate, audit)]
    await ensure_topics(
        admin, others, partitions=kafka.partitions, replication_factor=1,
        configs=configs_by_topic(kafka),
    )  # fmt: skip
    await _described(admin, [loopstate, *others])
    problems = (await check_topic_set(admin, kafka)).problems
    assert f"{audit}: missing" in problems
    assert any(p.startswith(f"{loopstate}: 1 partitions, settings say 4") for p in problems)
    assert any(
        p.startswith(f"{loopstate}: cleanup.policy is delete, expected compact") for p in problems
    )
    assert len(problems) == 3, problems


@pytest.mark.broker
async def test_a_topic_made_without_configs_is_a_mismatch_or_unchecked(
    kafka: KafkaSettings, admin: AIOKafkaAdminClient, request: pytest.FixtureRequest
) -> None:
    features = kafka.topics.name("features")
    await admin.create_topics([NewTopic(features, kafka.partitions, 1)])
    others = [name for name in kafka.topics.all() if name != features]
    await ensure_topics(
        admin, others, partitions=kafka.partitions, replication_factor=1,
        configs=configs_by_topic(kafka),
    )  # fmt: skip
    await _described(admin, kafka.topics.all())
    report = await check_topic_set(admin, kafka)
    if _apache_kafka(request):  # the broker default (7 days) is reported, and is not 90 days
        assert report.problems == [
            f"{features}: retention.ms is 604800000, expected {90 * DAY_MS} "
            f"({TOPIC_POLICIES['features'].why})"
        ]
        assert report.unchecked == []
    else:  # the embedded broker reports nothing it was not given: not checked, not "fine"
        assert report.problems == []
        assert [line.split(" of ")[0] for line in report.unchecked] == [
            "cleanup.policy",
            "min.insync.replicas",
            "retention.ms",
        ]
        assert all(
            line.endswith(f"{features}: the broker reports no value") for line in report.unchecked
        )


@pytest.mark.broker
async def test_producers_are_idempotent_where_the_broker_grants_ids(
    kafka: KafkaSettings, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    apache = _apache_kafka(request)
    choice = await choose_idempotence(kafka, timeout_s=10)
    assert choice.enabled is apache
    expected = "grants producer ids" if apache else "refuses producer ids (InitProducerId: "
    assert expected in choice.reason, choice.reason
    # settings override the probe
    off = msgspec.structs.replace(kafka, idempotence="off")
    assert not (await choose_idempotence(off, timeout_s=10)).enabled

    async with asyncio.timeout(60):
        await _create(kafka)
        producer = EventProducer(kafka, producer_id="idempotence-test")
        await producer.start()
        try:
            assert producer.idempotence == choice
            await producer.send_and_wait(stream_gap(0, producer_id="idempotence-test"))
        finally:
            await producer.stop()

        spooling = SpoolingProducer(
            kafka,
            producer_id="idempotence-test",
            spool=Spool(tmp_path / "spool", SpoolSettings(fsync="never")),
        )
        await spooling.start()
        try:
            await spooling.send(stream_gap(1, producer_id="idempotence-test"))
            await spooling.flush()
            assert len(spooling.spool) == 0
            assert spooling.idempotence == choice
        finally:
            await spooling.stop()


async def _create(kafka: KafkaSettings) -> None:
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        await ensure_topic_set(admin, kafka)
        await _described(admin, kafka.topics.all())
    finally:
        await admin.close()
