"""``serve``: the pages on one socket and, when a Kafka is named, ingest beside them.

Both run on one event loop until the task is cancelled (the caller's SIGINT/SIGTERM handling
cancels it); uvicorn's own signal capture is switched off so that there is one owner of signals.
The socket is bound here before uvicorn starts, so a port in use is an ``OSError`` the caller
reports in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import sqlite3
from collections.abc import Generator

import psycopg
import uvicorn
from aiokafka.errors import KafkaError

from console.db import DatabaseError, open_database
from console.ingest import run_ingest
from console.schema import create_schema
from console.scorer_facts import ScorerFactsByMethod
from console.tuning import kafka_publisher
from console.web import create_app
from ingest.transport.backoff import Backoff
from stream.errors import BrokerTimeoutError
from stream.events import PolicySnapshot
from stream.settings import KafkaSettings

log = logging.getLogger(__name__)
#: What the database drivers raise when a statement or the connection fails.
DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)
#: How long a stopping server may take to finish the requests it is answering.
GRACE_S = 5.0


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the command's own handling cancels the task)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


async def serve(
    database: str,
    sock: socket.socket,
    *,
    kafka: KafkaSettings | None,
    default_policy: PolicySnapshot,
    scorer_facts: ScorerFactsByMethod | None = None,
) -> None:
    """Serve the console on ``sock`` (and ingest from ``kafka``) until cancelled;
    ``scorer_facts``: what the patient page says about each scorer (console.web.create_app)."""
    with open_database(database) as db:
        create_schema(db)
    # Cookies go out Secure unless the console serves plain http on loopback (a browser on this
    # host): beyond it, only an https front (a TLS proxy) lets a browser log in.
    host = str(sock.getsockname()[0]).partition("%")[0]
    secure = not ipaddress.ip_address(host).is_loopback
    publish = None if kafka is None else kafka_publisher(kafka, default_policy)
    app = create_app(
        database,
        default_policy=default_policy,
        secure_cookies=secure,
        publish=publish,
        scorer_facts=scorer_facts,
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(server.serve(sockets=[sock]), name="console-web")]
    if kafka is not None:
        tasks.append(asyncio.create_task(_ingest(kafka, database, stop), name="console-ingest"))
    try:
        await asyncio.gather(*tasks)
    finally:
        server.should_exit = True
        stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            async with asyncio.timeout(GRACE_S):
                await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            task.cancel()


async def _ingest(kafka: KafkaSettings, database: str, stop: asyncio.Event) -> None:
    """Ingest until stopped. A broker or a database that fails is a warning, then a fresh
    ingest on a fresh connection after a back-off, from the offsets the database holds."""
    backoff = Backoff(base_s=1.0, cap_s=30.0)
    while not stop.is_set():
        try:
            with open_database(database) as db:
                result = await run_ingest(kafka, db, stop)
        except (KafkaError, BrokerTimeoutError, OSError, DatabaseError, *DRIVER_ERRORS) as exc:
            log.warning("console ingest stopped (%s); starting again from the stored offsets", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff.next_delay()):
                    await stop.wait()
            continue
        log.info("console ingest stopped: %s", result)
