"""Long-running services and set-up: the closed-loop worker, the embedded broker, topics."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from vagus.commands.common import Handlers, run_async, with_bootstrap
from vagus.config import ConfigError, VagusConfig


def register(commands: Any) -> Handlers:
    closedloop = commands.add_parser(
        "closedloop", help="run the closed-loop faust worker against a Kafka"
    )
    closedloop.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    closedloop.add_argument("--stats-file", type=Path, help="write worker counters here")

    broker = commands.add_parser(
        "broker", help="run the embedded development broker in the foreground"
    )
    broker.add_argument("--port", type=int, help="loopback port (default: a free one)")

    topics = commands.add_parser("topics", help="create the topic set on a Kafka")
    topics.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    return {"closedloop": cmd_closedloop, "broker": cmd_broker, "topics": cmd_topics}


def cmd_closedloop(args: argparse.Namespace, config: VagusConfig) -> int:
    from closedloop.app import ClosedLoopWorker  # noqa: PLC0415

    kafka = with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("the closed-loop worker needs --bootstrap or kafka.bootstrap")
    worker = ClosedLoopWorker(kafka, policy=config.policy, stats_path=args.stats_file)
    worker.run()
    return 0


def cmd_broker(args: argparse.Namespace, config: VagusConfig) -> int:
    from stream.broker import EmbeddedBroker  # noqa: PLC0415

    broker = EmbeddedBroker(port=args.port)

    async def go() -> int:
        try:
            print(f"broker listening on {broker.start()} (Ctrl-C stops)")
            await asyncio.Event().wait()
        finally:
            broker.stop()
        return 0

    return run_async(go)


def cmd_topics(args: argparse.Namespace, config: VagusConfig) -> int:
    from vagus.demo import create_topics  # noqa: PLC0415

    kafka = with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("topics needs --bootstrap or kafka.bootstrap")

    async def go() -> int:
        await create_topics(kafka)
        print("\n".join(kafka.topics.all()))
        return 0

    return run_async(go)
