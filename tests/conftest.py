"""Shared fixtures: each broker (embedded, Apache Kafka) once a session, topics per test."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stream.broker import EmbeddedBroker
from stream.local_kafka import LocalKafka, java_missing
from stream.settings import KafkaSettings
from vagus.quiet_logs import CLIENT_LOGGERS

if TYPE_CHECKING:  # tests.helpers loads the whole pipeline: only for the tests that ask
    from tests.helpers import EnrolledGateway


#: loggers our commands quieten when they run; in-process command tests must not carry a
#: quietened library logger into the next test, whose caplog would then see nothing
QUIETENED_LOGGERS = (
    *("", "aiokafka", "kafka", "faust", "mode", "numba", "bleak", "bumble"),
    *CLIENT_LOGGERS,  # vagus.quiet_logs puts its retry filter on these
)


@pytest.fixture(autouse=True)
def _loggers_as_they_were() -> Iterator[None]:
    """Each test leaves the quietened loggers' levels and filters as it found them."""
    loggers = [logging.getLogger(name) for name in QUIETENED_LOGGERS]
    before = [(logger.level, list(logger.filters)) for logger in loggers]
    yield
    for logger, (level, filters) in zip(loggers, before, strict=True):
        logger.setLevel(level)
        logger.filters[:] = filters


#: every test of the broker tier runs on both: the embedded broker (tansu) and Apache Kafka
BROKERS = ("embedded", "kafka")


@pytest.fixture(scope="session", params=BROKERS)
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """The embedded broker, or one local Apache Kafka node (stream.local_kafka); or, for both
    parameters' first, an external Kafka named by VAGUS_TEST_BOOTSTRAP (the other skips).
    Without Java the real-Kafka half says so in one line and skips; in CI (CI=true) it fails."""
    external = os.environ.get("VAGUS_TEST_BOOTSTRAP")
    if external:
        if request.param != BROKERS[0]:
            pytest.skip("VAGUS_TEST_BOOTSTRAP names the one broker to test")
        yield external
        return
    if request.param == "kafka":
        missing = java_missing()
        if missing and os.environ.get("CI") == "true":
            pytest.fail(f"{missing}: CI runs the broker tier on real Kafka", pytrace=False)
        if missing:
            pytest.skip(missing)
        kafka = LocalKafka(1)
        try:
            yield kafka.start()
        finally:
            kafka.stop()
        return
    broker = EmbeddedBroker()
    try:
        yield broker.start()
    finally:
        broker.stop()


def isolated_settings(bootstrap: str) -> KafkaSettings:
    """Settings with a topic prefix of their own, so tests never see each other's events."""
    return KafkaSettings(
        bootstrap=bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        session_timeout_ms=1000,
        heartbeat_interval_ms=300,
    )


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaSettings:
    return isolated_settings(kafka_bootstrap)


@pytest.fixture
def enrolled(tmp_path: Path) -> EnrolledGateway:
    """A test gateway enrolled for ``tests.helpers.PATIENT`` (key and worker registry)."""
    from tests.helpers import enrol_test_gateway

    return enrol_test_gateway(tmp_path)
