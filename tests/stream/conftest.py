"""The stream tests' own-broker fixture (tests/broker_fixtures.py), on each broker."""

from tests.broker_fixtures import broker_args

__all__ = ["broker_args"]
