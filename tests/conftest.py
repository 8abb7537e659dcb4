"""Shared fixtures: one real broker for the whole session, isolated topics per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stream.broker import EmbeddedBroker
from stream.settings import KafkaSettings

if TYPE_CHECKING:  # tests.helpers loads the whole pipeline: only for the tests that ask
    from tests.helpers import EnrolledGateway


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The embedded broker, or an external Kafka named by VAGUS_TEST_BOOTSTRAP."""
    external = os.environ.get("VAGUS_TEST_BOOTSTRAP")
    if external:
        yield external
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
