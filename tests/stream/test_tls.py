"""TLS end to end: vagus's SSL settings against Apache Kafka's own TLS listener, and against
the embedded broker behind a real TLS terminator.

The bundled broker speaks plaintext only, so one variant puts a TLS-terminating proxy in front
of it (certificates from a throwaway CA made by trustme) and advertises the proxy's address: the
client side, which is what vagus configures, does a real TLS handshake and verifies the chain.
The other uses the secured local Kafka's mTLS listener (tests/stream/conftest.py), as the admin
principal: TLS is what is tested here, ACLs in test_kafka_security.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import trustme
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from stream.broker import EmbeddedBroker, free_loopback_port
from stream.local_kafka import LocalKafka
from stream.local_kafka.security import ADMIN
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from stream.topics import ensure_topics
from tests.helpers import collecting_consumer, stress_score

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: "terminator": the embedded broker behind a TLS proxy; "kafka": Apache Kafka's own TLS
TLS_BROKERS = ("terminator", "kafka")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def tls_terminator(
    listen_port: int, upstream_port: int, context: ssl.SSLContext
) -> AsyncIterator[list[int]]:
    """Accept TLS on ``listen_port``, forward plaintext to ``upstream_port``; count handshakes."""
    handshakes: list[int] = []
    tasks: set[asyncio.Task[None]] = set()

    async def handle(
        client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        handshakes.append(1)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        for task in (
            asyncio.create_task(_pipe(client_reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, client_writer)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, ssl=context)
    try:
        yield handshakes
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


@dataclass(frozen=True)
class TlsBroker:
    """vagus's settings for a broker reached over TLS, and the handshakes a proxy counted."""

    settings: KafkaSettings
    handshakes: list[int] | None  # None: no proxy, the broker itself speaks TLS


@contextlib.asynccontextmanager
async def embedded_behind_terminator(tmp_path: Path) -> AsyncIterator[TlsBroker]:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    cafile = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(cafile))
    proxy_port = free_loopback_port()
    broker = EmbeddedBroker(advertised=f"127.0.0.1:{proxy_port}")
    broker_port = int(broker.start().rsplit(":", 1)[1])
    settings = KafkaSettings(
        bootstrap=f"127.0.0.1:{proxy_port}", security_protocol="SSL", ssl_cafile=str(cafile)
    )
    try:
        async with tls_terminator(proxy_port, broker_port, server_context) as handshakes:
            yield TlsBroker(settings, handshakes)
    finally:
        broker.stop()


@pytest.fixture(params=TLS_BROKERS)
async def tls_broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TlsBroker]:
    if request.param == "terminator":
        async with embedded_behind_terminator(tmp_path) as broker:
            yield broker
        return
    kafka: LocalKafka = request.getfixturevalue("secure_kafka")
    assert kafka.security is not None
    settings = kafka.security.client_settings(ADMIN, "mtls", kafka.secure_bootstrap("mtls"))
    yield TlsBroker(settings, None)


async def test_produce_and_consume_over_tls(tls_broker: TlsBroker) -> None:
    settings = msgspec.structs.replace(
        tls_broker.settings,
        topic_prefix=f"tls{uuid.uuid4().hex[:8]}",
        session_timeout_ms=1000,
        heartbeat_interval_ms=300,
        fetch_max_wait_ms=20,
    )
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    await ensure_topics(admin, settings.topics.all(), partitions=2, replication_factor=1)
    await admin.close()
    producer = EventProducer(settings, producer_id="tls-test")
    await producer.start()
    async with collecting_consumer(settings, producer, "tls") as (_, received):
        sent = [stress_score(i, "tls-test") for i in range(50)]
        for event in sent:
            await producer.send(event)
        await producer.flush()
        async with asyncio.timeout(20):
            while len(received) < len(sent):
                await asyncio.sleep(0.05)
    await producer.stop()
    assert [e.event_id for e in received] == [e.event_id for e in sent]
    if tls_broker.handshakes is not None:
        assert tls_broker.handshakes  # every connection went through the TLS terminator


async def test_a_wrong_certificate_authority_is_refused(
    tls_broker: TlsBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    settings = msgspec.structs.replace(tls_broker.settings, ssl_cafile=str(stranger))
    admin = AIOKafkaAdminClient(request_timeout_ms=3000, **settings.client_kwargs())
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
