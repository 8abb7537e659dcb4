"""Long-running services: the closed-loop worker, the embedded broker or Apache Kafka."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from vagus.commands.common import Handlers, run_async, with_bootstrap, writable_file
from vagus.config import ConfigError, VagusConfig


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
    from closedloop.app import ClosedLoopWorker  # noqa: PLC0415

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
    worker.run()
    return 0


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
