"""A faust Kafka transport tuned for one small event per message. Scheme: ``vagus-kafka://``.

- faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500`` fixed. A real Kafka
  answers a fetch as soon as data arrives, so that only bounds idle polling; the embedded
  development broker holds every fetch for the full wait, which would add up to 1.5 s to each
  decision. This transport sets the wait from :class:`stream.settings.KafkaSettings` instead.
- Input offsets are committed only after the app's ``before_commit`` (the closed loop's
  snapshots) has run, so a crash never leaves an input committed but missing from the state.
- faust's fetch loop races each message's hand-over to the stream against a flow suspension,
  with four tasks per message; the hand-over almost never waits, so it runs inline here and
  only a hand-over that has to wait joins faust's race (see :mod:`closedloop.inline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.sensors import Monitor
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

from closedloop.inline import start_inline, waits_on
from stream.settings import KafkaSettings

SCHEME = "vagus-kafka"


class TunedApp(faust.App):
    """A faust app that carries the consumer fetch wait for :class:`Transport` to apply, and
    what must happen before input offsets are committed (the closed loop's snapshots)."""

    fetch_max_wait_ms: int = 1500
    before_commit: Callable[[], Awaitable[None]] | None = None
    #: Idempotent producer (stream.idempotence decides before the worker starts).
    idempotent_producer: bool = False
    #: Held by the agent while it handles a record and by a commit from ``before_commit`` to
    #: the end (exactly-once, see ClosedLoopWorker); None: commits do not wait.
    commit_lock: asyncio.Lock | None = None


class RawSchema(faust.Schema[bytes, bytes]):
    """Keys and values as the bytes on the wire: the gate (stream.gate) decodes and validates.

    The same result as faust's "raw" serializers, without a trip through its codec registry
    for every message.
    """

    def loads_key(
        self, app: Any, message: Any, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        return message.key

    def loads_value(
        self, app: Any, message: Any, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        return message.value


class QuietMonitor(Monitor):
    """faust's monitor without its per-message statistics, which only its web views read.

    Offsets and commits are still tracked (the consumer reads them back); the per-event hooks
    cost more than deciding on a stress score.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> Any:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None


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

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """Run the app's ``before_commit`` once the offsets are chosen, then commit them.

        faust flushes the producer just before it commits, so whatever ``before_commit``
        queued (snapshots that account for every input handled so far) is on the broker
        before any of those inputs counts as consumed.
        """
        lock = getattr(self.app, "commit_lock", None)
        async with lock or contextlib.nullcontext():
            before = getattr(self.app, "before_commit", None)
            if before is not None:
                await before()
            return bool(await super()._commit_offsets(offsets, start_new_transaction))

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109
        """faust's race, except for its per-message ``(deliver, suspend_flow.wait())`` call."""
        if timeout is None and len(coros) == 2 and waits_on(coros[1], self.suspend_flow):
            delivery, suspension = coros
            suspension.close()
            started = start_inline(delivery)
            if started.finished:
                return WaitResults([delivery], [started.result], False)
            return await super().wait_first(started.rest(), self.suspend_flow.wait())
        return await super().wait_first(*coros, timeout=timeout)


class _Producer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Any:
        """faust makes its producer idempotent only inside transactions; ours where offered."""
        extra = dict(super()._settings_extra())
        if getattr(self.app, "idempotent_producer", False):
            extra.update(acks="all", enable_idempotence=True)
        return extra


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
    Producer = _Producer


def transactional_id(app: faust.App, input_topic: str, partition: int) -> str:
    """The id of faust's transaction for one input partition (its TransactionManager's format):
    outputs sent under it are committed with that partition's input offsets, or aborted."""
    return f"{app.conf.id}-{app.assignor.group_for_topic(input_topic)}-{partition}"


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
