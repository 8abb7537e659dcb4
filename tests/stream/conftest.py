"""The secured local Kafka, started once for the session by the tests that ask for it, and
the own-broker fixture (tests/broker_fixtures.py) on each broker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from stream.local_kafka import LocalKafka, java_missing
from stream.local_kafka.security import password_variable
from tests.broker_fixtures import broker_args

__all__ = ["broker_args", "secure_kafka"]


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[LocalKafka]:
    """One Apache Kafka node with mTLS and SASL_SSL/SCRAM listeners and ACLs enforced (its SCRAM
    passwords in the environment, as a deployment's secrets would be). Without Java the tests
    that use it skip in one line; with CI=true they fail instead, as kafka_bootstrap does."""
    missing = java_missing()
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"{missing}: CI runs the security tests on real Kafka", pytrace=False)
    if missing:
        pytest.skip(missing)
    kafka = LocalKafka(1, secure=True)
    kafka.start()
    assert kafka.security is not None
    variables = {password_variable(p): pw for p, pw in kafka.security.passwords.items()}
    os.environ.update(variables)
    try:
        yield kafka
    finally:
        for name in variables:
            os.environ.pop(name, None)
        kafka.stop()
