"""`vagus gateway`: the live gateway. Configured wearables over BLE, through the same decoders
and DSP as replay, to Kafka; reconnects forever and reports every gap."""

from __future__ import annotations

import argparse
import json
from typing import Any

from vagus.commands.common import Handlers, run_async, with_bootstrap
from vagus.commands.devices import add_backend_option
from vagus.config import VagusConfig


def register(commands: Any) -> Handlers:
    gateway = commands.add_parser(
        "gateway",
        help="run the live gateway: configured devices -> Kafka",
        description="Runs until interrupted (SIGINT/SIGTERM stop it cleanly). Uses kafka.bootstrap"
        " or --bootstrap; without either it starts an embedded broker (development only).",
    )
    gateway.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    gateway.add_argument("--seconds", type=float, help="stop after this long (default: never)")
    gateway.add_argument("--json", action="store_true", help="print the final summary as JSON")
    add_backend_option(gateway)
    return {"gateway": cmd_gateway}


def cmd_gateway(args: argparse.Namespace, config: VagusConfig) -> int:
    from vagus.live import run_gateway  # noqa: PLC0415

    backend = args.backend or config.live.backend
    live_config = with_bootstrap(config, args.bootstrap)

    async def go() -> int:
        summary = await run_gateway(live_config, backend=backend, seconds=args.seconds)
        print(json.dumps(summary) if args.json else json.dumps(summary, indent=2))
        return 0

    return run_async(go)
