"""Long-running services and set-up: the closed-loop worker, the embedded broker, topics."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream.settings import KafkaSettings
from vagus.commands.common import Handlers, run_async, with_bootstrap, writable_file
from vagus.config import ConfigError, VagusConfig
from vagus.gateway_metrics import worker_metrics
from vagus.metrics import serving_metrics
from vagus.service_notify import ServiceNotifier, keep_watchdog

if TYPE_CHECKING:
    from closedloop.app import ClosedLoopWorker

#: How long `topics` waits for a cluster to list the partitions of topics it has just created
#: (a real Kafka's metadata can lag a create by a moment); still missing then, they show null.
DESCRIBE_TIMEOUT_S = 10.0


def register(commands: Any) -> Handlers:
    closedloop = commands.add_parser(
        "closedloop",
        help="run the closed-loop faust worker against a Kafka",
        description="Run the worker that turns stress scores into session decisions under each "
        "patient's policy, until SIGINT or SIGTERM. Run one (or more, for failover) per Kafka.",
    )
    closedloop.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    closedloop.add_argument("--stats-file", type=Path, help="write worker counters here")
    closedloop.add_argument(
        "--metrics-port",
        type=_port,
        help="serve Prometheus metrics on 127.0.0.1 at this port (docs/observability.md)",
    )

    broker = commands.add_parser(
        "broker",
        help="run the embedded broker, or Apache Kafka (--kafka)",
        description="Run the bundled Kafka-compatible broker on loopback, in memory, until "
        "Ctrl-C. For development and demos only; production points at a real Kafka.",
    )
    broker.add_argument("--port", type=int, help="loopback port (default: a free one)")
    broker.add_argument(
        "--kafka",
        action="store_true",
        help="run Apache Kafka instead (JVMs; fetched with Maven on first use; needs JDK 17+)",
    )
    broker.add_argument(
        "--nodes",
        type=int,
        choices=(1, 3),
        default=1,
        help="with --kafka: one KRaft node, or three (replication 3, min ISR 2)",
    )

    topics = commands.add_parser(
        "topics",
        help="create the topic set on a Kafka",
        description="Create the topics vagus uses that are missing, with the configured "
        "partitions and replication factor, and list them all. Safe to run again; run it once "
        "before the first gateway or worker starts against a new Kafka.",
    )
    topics.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    topics.add_argument(
        "--json",
        action="store_true",
        help="last line: one JSON object with each topic's partitions and replication factor",
    )
    return {"closedloop": cmd_closedloop, "broker": cmd_broker, "topics": cmd_topics}


def cmd_closedloop(args: argparse.Namespace, config: VagusConfig) -> int:
    try:
        from closedloop.app import ClosedLoopWorker  # noqa: PLC0415
    except ModuleNotFoundError as exc:  # a gateway-only install (docs/pi.md)
        if exc.name not in {"faust", "mode"}:
            raise
        raise ConfigError(
            "the closed-loop worker needs faust: install vagus with its worker extra"
            " (pip install 'vagus[worker]')"
        ) from exc

    if args.stats_file is not None:
        writable_file(args.stats_file)  # now, not at the worker's first write
    kafka = with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("the closed-loop worker needs --bootstrap or kafka.bootstrap")
    worker = ClosedLoopWorker(
        kafka,
        policy=config.policy,
        stats_path=args.stats_file,
        enrolment_file=config.enrolment.registry_path(),
    )
    service = ServiceNotifier.from_environment()
    if service.enabled:
        worker.app.task(_worker_service(worker, service))
    if args.metrics_port is not None:
        worker.app.task(_worker_metrics(worker, args.metrics_port))
    worker.run()
    return 0


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port


def _worker_metrics(worker: ClosedLoopWorker, port: int) -> Callable[[], Any]:
    """A task on the worker's event loop serving its metrics until the worker stops."""

    async def run() -> None:
        async with serving_metrics(lambda lag: worker_metrics(worker.stats, lag), port):
            await asyncio.Event().wait()  # until faust cancels its tasks

    return run


def _worker_service(worker: ClosedLoopWorker, service: ServiceNotifier) -> Callable[[], Any]:
    """A task on the worker's event loop: READY once its partitions are assigned, then
    watchdog pings while no output has failed to reach the broker (after one, the worker is
    stopping and systemd restarts it)."""

    def healthy() -> str | None:
        failed = worker.stats.failed_deliveries
        return f"{failed} output(s) not delivered" if failed else None

    async def run() -> None:
        while not worker.stats.ready:  # noqa: ASYNC110 - a plain flag the worker sets
            await asyncio.sleep(0.2)
        service.ready("closed-loop worker: partitions assigned")
        try:
            await keep_watchdog(service, healthy)
        finally:
            service.stopping("closed-loop worker stopping")

    return run


def cmd_broker(args: argparse.Namespace, config: VagusConfig) -> int:
    from stream.broker import EmbeddedBroker  # noqa: PLC0415
    from stream.local_kafka import LocalKafka  # noqa: PLC0415

    if args.kafka and args.port:
        raise ConfigError("--port is for the embedded broker; --kafka picks free ports")
    broker = LocalKafka(args.nodes) if args.kafka else EmbeddedBroker(port=args.port)
    name = broker.name if isinstance(broker, LocalKafka) else "the embedded broker"

    async def go() -> int:
        try:
            print(f"broker listening on {broker.start()}: {name} (Ctrl-C stops)", flush=True)
            # A broker that dies must not leave "listening" standing; a child process offers
            # no awaitable exit, so it is polled.
            while broker.alive():  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            print(f"vagus: {name} exited (status {broker.exit_status()})", file=sys.stderr)
            return 1
        finally:
            broker.stop()

    return run_async(go)


async def ensure_and_describe(kafka: KafkaSettings) -> list[dict[str, Any]]:
    """Create the missing topics, then report every topic as the cluster has it: an existing
    topic keeps the partitions it was made with, whatever the configuration says now."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415

    from stream.timeouts import TIMEOUTS, bounded  # noqa: PLC0415
    from stream.topics import ensure_topics  # noqa: PLC0415

    names = kafka.topics.all()
    admin = AIOKafkaAdminClient(request_timeout_ms=TIMEOUTS.request_ms, **kafka.client_kwargs())
    try:
        await bounded(admin.start(), TIMEOUTS.connect_s, "the admin client's start")
        created = set(
            await bounded(
                ensure_topics(
                    admin,
                    names,
                    partitions=kafka.partitions,
                    replication_factor=kafka.replication_factor,
                ),
                TIMEOUTS.request_s * 2,  # a list and a create
                "topic creation",
            )
        )
        found: dict[str, list[dict[str, Any]]] = {}
        deadline = asyncio.get_running_loop().time() + DESCRIBE_TIMEOUT_S
        while True:
            described = await bounded(
                admin.describe_topics(names), TIMEOUTS.request_s, "a topic description"
            )
            found = {t["topic"]: t["partitions"] for t in described if t["error_code"] == 0}
            done = all(found.get(name) for name in names)
            if done or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    return [
        {
            "topic": name,
            "partitions": len(found[name]) if found.get(name) else None,
            "replication_factor": (
                max(len(p["replicas"]) for p in found[name]) if found.get(name) else None
            ),
            "created": name in created,
        }
        for name in names
    ]


def cmd_topics(args: argparse.Namespace, config: VagusConfig) -> int:
    kafka = with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("topics needs --bootstrap or kafka.bootstrap")

    async def go() -> int:
        topics = await ensure_and_describe(kafka)
        print("\n".join(t["topic"] for t in topics))
        if args.json:
            print(json.dumps({"topics": topics}))
        return 0

    return run_async(go)
