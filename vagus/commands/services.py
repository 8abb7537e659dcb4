"""Long-running services: the closed-loop worker, the embedded broker or Apache Kafka."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vagus.commands.common import Handlers, run_async, with_bootstrap, writable_file
from vagus.config import ConfigError, VagusConfig
from vagus.gateway_metrics import worker_metrics
from vagus.metrics import LoopLag, Metric, serving_metrics
from vagus.service_notify import ServiceNotifier, keep_watchdog

if TYPE_CHECKING:
    from closedloop.app import ClosedLoopWorker


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
    closedloop.add_argument(
        "--exactly-once",
        action="store_true",
        help="faust transactions instead of at-least-once with deduplication (real Kafka only; "
        "measured in docs/broker.md)",
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

    return {"closedloop": cmd_closedloop, "broker": cmd_broker}


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
        exactly_once=args.exactly_once,
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
        def scrape(lag: LoopLag) -> list[Metric]:
            return worker_metrics(worker.stats, lag, worker.input_lag(), time.time())

        async with serving_metrics(scrape, port):
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
