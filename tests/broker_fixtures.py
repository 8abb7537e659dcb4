"""Fixtures for the tests that start (and stop, or kill) a broker of their own, on each broker.

tests/conftest.py shares one broker per kind for the whole session; the tests here cannot share
one: they stop it for an outage, kill it mid-demo, or let `vagus demo` start its own. Each is
parametrised over ``BROKERS`` like the shared tier: the embedded broker (tansu) and one local
Apache Kafka node. A module imports the fixtures it uses by name (pytest finds them there).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Protocol

import pytest

from stream.broker import EmbeddedBroker, free_loopback_port
from stream.local_kafka import LocalKafka, java_missing
from tests.conftest import BROKERS


def require_real_kafka() -> None:
    """Skip in one line without Java, as the shared tier does; in CI (CI=true) fail instead."""
    missing = java_missing()
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"{missing}: CI runs the broker tier on real Kafka", pytrace=False)
    if missing:
        pytest.skip(missing)


class OutageBroker(Protocol):
    """A broker that goes down and comes back on the same address."""

    #: which of ``BROKERS`` it is
    kind: str
    #: whether what it held before the outage is still there afterwards
    keeps_log: bool

    def start(self) -> str: ...

    def go_down(self) -> None: ...

    def come_back(self) -> None: ...

    def close(self) -> None: ...


class EmbeddedOutage:
    """tansu keeps its data in memory only: the broker that comes back is a fresh one on the
    same port, empty (its topics are auto-created as clients write to them)."""

    kind = "embedded"
    keeps_log = False

    def __init__(self) -> None:
        port = free_loopback_port()
        self._first, self._second = EmbeddedBroker(port=port), EmbeddedBroker(port=port)

    def start(self) -> str:
        return self._first.start()

    def go_down(self) -> None:
        self._first.stop()

    def come_back(self) -> None:
        self._second.start()

    def close(self) -> None:
        self._first.stop()
        self._second.stop()


class KafkaOutage:
    """One Apache Kafka node, stopped (SIGTERM: a controlled shutdown) and started again on its
    port and storage: it comes back with its log, as a production broker does."""

    kind = "kafka"
    keeps_log = True

    def __init__(self) -> None:
        self._kafka = LocalKafka(1)

    def start(self) -> str:
        return self._kafka.start()

    def go_down(self) -> None:
        self._kafka.stop_node(0)

    def come_back(self) -> None:
        # on this thread: the JVM dies with the thread that spawned it (PR_SET_PDEATHSIG)
        self._kafka.start_node(0)

    def close(self) -> None:
        self._kafka.stop()


@pytest.fixture(params=BROKERS)
def outage_broker(request: pytest.FixtureRequest) -> Iterator[OutageBroker]:
    """A broker of the test's own (not started yet) that the test takes down and brings back."""
    if request.param == "kafka":
        require_real_kafka()
    broker: OutageBroker = KafkaOutage() if request.param == "kafka" else EmbeddedOutage()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(params=BROKERS)
def broker_args(request: pytest.FixtureRequest) -> list[str]:
    """The arguments that pick the broker `vagus demo` or `vagus broker` starts for itself: none
    for the embedded one, ``--kafka`` for a local Apache Kafka node."""
    if request.param == "kafka":
        require_real_kafka()
        return ["--kafka"]
    return []


class KillableBroker(Protocol):
    """A started broker that the test kills with SIGKILL (its process or its JVM)."""

    @property
    def bootstrap(self) -> str: ...

    def kill(self) -> None: ...


class _KilledEmbedded:
    def __init__(self) -> None:
        self._broker = EmbeddedBroker()
        self.bootstrap = self._broker.start()

    def kill(self) -> None:
        if self._broker.pid is not None:
            os.kill(self._broker.pid, signal.SIGKILL)

    def close(self) -> None:
        self._broker.stop()


class _KilledKafka:
    def __init__(self) -> None:
        self._kafka = LocalKafka(1)
        self.bootstrap = self._kafka.start()

    def kill(self) -> None:
        self._kafka.kill(0)

    def close(self) -> None:
        self._kafka.stop()


@pytest.fixture(params=BROKERS)
def killable_broker(request: pytest.FixtureRequest) -> Iterator[KillableBroker]:
    """A broker of the test's own, started, for a test that kills it."""
    if request.param == "kafka":
        require_real_kafka()
    broker = _KilledKafka() if request.param == "kafka" else _KilledEmbedded()
    try:
        yield broker
    finally:
        broker.close()
