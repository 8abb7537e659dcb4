"""Every broker call vagus makes is bounded (stream.timeouts): a broker that accepts connections
and then never answers cannot hold a command.

Two silent brokers: a TCP server that accepts and never replies (nothing answers from the first
byte), and a proxy in front of the real embedded broker that stops forwarding on request (the
broker goes silent mid-conversation, e.g. between a fetch and its commit). The embedded broker
advertises the proxy's address, so every connection of the client goes through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaError

import closedloop.policy_store
import closedloop.state_store
import stream.consumer
import stream.producer
import stream.timeouts
import vagus.demo
from closedloop.policy_store import read_records
from closedloop.state_store import read_partition
from stream.broker import EmbeddedBroker, free_loopback_port
from stream.consumer import EventConsumer
from stream.errors import BrokerTimeoutError
from stream.events import AnyEvent
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from stream.timeouts import BrokerTimeouts, bounded
from tests.conftest import isolated_settings
from tests.helpers import stress_score
from vagus.demo import create_topics

#: Short bounds, so a test shows the bound and not aiokafka's own 40 s request timeout.
SHORT = BrokerTimeouts(
    connect_s=0.6, request_s=0.6, fetch_s=0.6, flush_s=0.6, stop_s=0.6, read_log_s=0.6
)
#: The most a bounded call may overrun its bound here (a loaded 2-core host included).
SLACK_S = 2.0
#: What an unbounded call would take at least: aiokafka's default request timeout is 40 s.
UNBOUNDED_S = 15.0


def _shorten(monkeypatch: pytest.MonkeyPatch) -> BrokerTimeouts:
    for module in (
        stream.timeouts,
        stream.consumer,
        stream.producer,
        closedloop.policy_store,
        closedloop.state_store,
        vagus.demo,
    ):
        if hasattr(module, "TIMEOUTS"):
            monkeypatch.setattr(module, "TIMEOUTS", SHORT)
    return SHORT


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> BrokerTimeouts:
    return _shorten(monkeypatch)


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and reads whatever comes; never writes a byte. At the end it
    half-closes each connection and waits until the client has closed its side too: a client
    whose start was abandoned leaves its socket open otherwise (aiokafka keeps no handle to it),
    and its ResourceWarning would surface in a later test."""
    serving: set[asyncio.Task[Any]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        serving.add(task)
        writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
        if serving:
            await asyncio.wait(serving, timeout=5.0)
        await _close_all(writers)
        await server.wait_closed()


class FreezingProxy:
    """Forwards TCP both ways to ``target`` until :meth:`freeze`; then forwards nothing more
    (connections stay open: the broker looks alive and silent)."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self.frozen = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.port = free_loopback_port()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def freeze(self) -> None:
        self.frozen.set()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.append(client_w)
        broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self._target_port)
        self._writers.append(broker_w)
        for source, sink in ((client_r, broker_w), (broker_r, client_w)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if self.frozen.is_set():
                    await asyncio.Event().wait()  # hold the connection open, answer nothing
                sink.write(data)
                await sink.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await _close_all(self._writers)
        if self._server is not None:
            await self._server.wait_closed()


async def _close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
    for writer in writers:
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.fixture
async def proxied_kafka(tmp_path: Path) -> AsyncIterator[tuple[KafkaSettings, FreezingProxy]]:
    """Its own embedded broker behind a :class:`FreezingProxy` (freezing must not touch the
    session's shared broker). Embedded only: the broker must advertise the proxy's address,
    which stream.local_kafka's nodes do not offer; the bounds are the client's, not the broker's."""
    broker_port = free_loopback_port()
    proxy = FreezingProxy(broker_port)
    await proxy.start()
    broker = EmbeddedBroker(
        port=broker_port, log_path=tmp_path / "broker.log", advertised=f"127.0.0.1:{proxy.port}"
    )
    try:
        broker.start()
        settings = isolated_settings(f"127.0.0.1:{proxy.port}")
        await create_topics(settings)
        yield settings, proxy
    finally:
        await proxy.close()
        broker.stop()


async def _within(bound_s: float, call: Callable[[], Awaitable[Any]]) -> float:
    """Run ``call`` expecting it to give up within ``bound_s`` (+ slack): with our
    BrokerTimeoutError, or the client's own error where its request timeout (set to the same
    bound, stream.timeouts.BrokerTimeouts.request_ms) fires first. Returns the duration."""
    began = time.monotonic()
    try:
        async with asyncio.timeout(UNBOUNDED_S):
            with pytest.raises((BrokerTimeoutError, KafkaError)):
                await call()
    except TimeoutError:
        pytest.fail(f"not bounded: still waiting after {UNBOUNDED_S:.0f} s")
    took = time.monotonic() - began
    assert took < bound_s + SLACK_S
    return took


async def test_bounded_names_the_call_and_its_limit() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(BrokerTimeoutError, match=r"did not answer a commit within 0\.05 s"):
        await bounded(never, 0.05, "a commit")
    assert isinstance(BrokerTimeoutError("x"), TimeoutError)  # callers catching either see it


async def test_a_producer_start_against_a_silent_broker_is_bounded(
    short_timeouts: BrokerTimeouts,
) -> None:
    async with silent_server() as address:
        producer = EventProducer(KafkaSettings(bootstrap=address), producer_id="t-silent")
        await _within(short_timeouts.connect_s, producer.start)
        await _within_stop(short_timeouts, producer.stop)


# A group consumer keeps aiokafka's long request timeout (a join may wait for a rebalance), so
# its start is cut by our bound, and aiokafka then leaves its bootstrap socket to the garbage
# collector: collected here, where its ResourceWarning is expected, not in a later test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_a_group_consumer_start_against_a_silent_broker_is_bounded(
    short_timeouts: BrokerTimeouts,
) -> None:
    async with silent_server() as address:
        settings = KafkaSettings(bootstrap=address)
        producer = EventProducer(settings, producer_id="t-silent")
        consumer = EventConsumer(
            settings,
            group_id="t-silent",
            topics=["t.stress"],
            handler=_ignore,
            dead_letters=producer,
            consumer_id="t-silent",
        )
        await _within(short_timeouts.connect_s, consumer.start)
        await _within_stop(short_timeouts, consumer.stop)
        await _within_stop(short_timeouts, producer.stop)
    gc.collect()


async def test_topic_creation_and_log_reads_against_a_silent_broker_are_bounded(
    short_timeouts: BrokerTimeouts,
) -> None:
    async with silent_server() as address:
        settings = KafkaSettings(bootstrap=address, topic_prefix="t-silent")
        await _within(short_timeouts.connect_s, lambda: create_topics(settings))
        await _within(
            short_timeouts.connect_s, lambda: read_records(settings, settings.topics.name("policy"))
        )
        await _within(short_timeouts.connect_s, lambda: read_partition(settings, 0))


async def _within_stop(timeouts: BrokerTimeouts, stop: Callable[[], Awaitable[None]]) -> None:
    """A stop never raises for the broker's sake; it returns within its bound."""
    began = time.monotonic()
    await stop()
    assert time.monotonic() - began < timeouts.stop_s + SLACK_S


async def _ignore(_event: AnyEvent) -> None:
    return None


@pytest.mark.broker
async def test_a_commit_to_a_broker_that_went_silent_is_bounded(
    proxied_kafka: tuple[KafkaSettings, FreezingProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer fetches an event; its handler freezes the broker, so the commit that follows
    meets silence. The consumer must notice within the commit's bound and carry on (retrying),
    and stop within its own bound; before, ``commit()`` waited for ever."""
    settings, proxy = proxied_kafka
    producer = EventProducer(settings, producer_id="t-commit")
    await producer.start()
    await producer.send(stress_score(0))
    await producer.flush()
    handled = asyncio.Event()

    async def freeze_then_return(_event: AnyEvent) -> None:
        proxy.freeze()
        handled.set()

    consumer = EventConsumer(
        settings,
        group_id="t-commit",
        topics=[settings.topics.name("stress")],
        handler=freeze_then_return,
        dead_letters=producer,
        consumer_id="t-commit",
    )
    await consumer.start()  # joining the group takes longer than the short bounds
    short_timeouts = _shorten(monkeypatch)
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        async with asyncio.timeout(30):
            await handled.wait()
        frozen_at = time.monotonic()
        async with asyncio.timeout(UNBOUNDED_S):
            await consumer.unreachable.wait()
        assert time.monotonic() - frozen_at < short_timeouts.request_s + SLACK_S
        assert not running.done()  # it retries, it did not die
    finally:
        stop.set()
        await asyncio.wait({running}, timeout=short_timeouts.fetch_s + SLACK_S)
        assert running.done()
        await _within_stop(short_timeouts, consumer.stop)
        await _within_stop(short_timeouts, producer.stop)


@pytest.mark.broker
async def test_a_flush_to_a_broker_that_went_silent_is_bounded(
    proxied_kafka: tuple[KafkaSettings, FreezingProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, proxy = proxied_kafka
    producer = EventProducer(settings, producer_id="t-flush")
    await producer.start()
    short_timeouts = _shorten(monkeypatch)
    await producer.send(stress_score(0))
    await producer.flush()  # connected, metadata known
    proxy.freeze()
    await producer.send(stress_score(1))
    await _within(short_timeouts.flush_s, producer.flush)
    await _within_stop(short_timeouts, producer.stop)
