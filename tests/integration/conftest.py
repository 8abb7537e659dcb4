"""The integration tests' own-broker fixtures (tests/broker_fixtures.py), on each broker."""

from tests.broker_fixtures import broker_args, killable_broker, outage_broker

__all__ = ["broker_args", "killable_broker", "outage_broker"]
