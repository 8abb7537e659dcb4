"""`vagus gateway`: the live gateway. Configured wearables over BLE, through the same decoders
and DSP as replay, to Kafka; reconnects forever and reports every gap."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from vagus.commands.common import Handlers, with_bootstrap
from vagus.commands.devices import add_backend_option, run_ble
from vagus.config import VagusConfig


def register(commands: Any) -> Handlers:
    gateway = commands.add_parser(
        "gateway",
        help="run the live gateway: configured devices -> Kafka",
        description="Runs until interrupted (SIGINT/SIGTERM stop it cleanly). Uses kafka.bootstrap"
        " or --bootstrap; without either it starts an embedded broker (development only). A"
        " broker that does not answer is no reason to stop: events wait in the disk spool.",
    )
    gateway.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    gateway.add_argument("--seconds", type=float, help="stop after this long (default: never)")
    gateway.add_argument("--json", action="store_true", help="print the final summary as JSON")
    add_backend_option(gateway)
    return {"gateway": cmd_gateway}


async def run_gateway(
    config: VagusConfig, *, backend: str, seconds: float | None
) -> dict[str, Any]:
    """Configured devices -> Gateway -> Kafka (the configured one, else an embedded broker),
    until cancelled or ``seconds`` pass; gaps go out as ``stream_gap`` events. The broker need
    not answer at start: events spool on disk and the topics are made once it does."""
    from vagus.demo import broker_for  # noqa: PLC0415
    from vagus.live import ble_backend, gateway_over, patient_id  # noqa: PLC0415

    patient = patient_id(config, backend)
    with tempfile.TemporaryDirectory(prefix="vagus-gateway-") as scratch:
        async with (
            broker_for(config.kafka, Path(scratch)) as kafka,
            ble_backend(config, backend) as (ble, targets),
        ):
            live = msgspec.structs.replace(config, kafka=kafka)
            return await gateway_over(
                live, ble=ble, targets=targets, patient=patient, seconds=seconds
            )


def cmd_gateway(args: argparse.Namespace, config: VagusConfig) -> int:
    backend = args.backend or config.live.backend
    live_config = with_bootstrap(config, args.bootstrap)

    async def go() -> int:
        summary = await run_gateway(live_config, backend=backend, seconds=args.seconds)
        print(json.dumps(summary) if args.json else json.dumps(summary, indent=2))
        return 0

    return run_ble(go)
