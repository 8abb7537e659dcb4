"""A faust Kafka transport whose consumer's fetch wait is configurable.

faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500`` fixed. A real Kafka answers a
fetch as soon as data arrives, so that only bounds idle polling; the embedded development broker
holds every fetch for the full wait, which would add up to 1.5 s to each decision. This transport
sets the wait from :class:`stream.settings.KafkaSettings` instead. Scheme: ``vagus-kafka://``.
"""

from __future__ import annotations

import os
from typing import Any

import faust
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream.settings import KafkaSettings

SCHEME = "vagus-kafka"


class TunedApp(faust.App):
    """A faust app that carries the consumer fetch wait for :class:`Transport` to apply."""

    fetch_max_wait_ms: int = 1500


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this attribute when the consumer starts, to build its fetcher.
        app = self.app
        if isinstance(app, TunedApp):
            consumer._fetch_max_wait_ms = app.fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


def register() -> None:
    """Make ``vagus-kafka://`` URLs resolve to this transport (idempotent)."""
    drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"


def faust_credentials(settings: KafkaSettings) -> Any:
    """The faust credentials object matching ``settings`` (None for plaintext)."""
    context = settings.ssl_context()
    if settings.sasl_mechanism is not None:
        password = os.environ.get(settings.sasl_password_env, "")
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=password,
            ssl_context=context,
            mechanism=settings.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
