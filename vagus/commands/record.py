"""`vagus record`: raw notifications of the configured live devices, with gap markers, in the
recording format (docs/recording-format.md), for replay through the same decoders later."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vagus.commands.common import Handlers, new_recording
from vagus.commands.devices import add_backend_option, run_ble
from vagus.config import VagusConfig


def register(commands: Any) -> Handlers:
    record = commands.add_parser(
        "record",
        help="record the configured live devices to a file",
        description="Connects to the configured [[devices]], records every data notification "
        "as received (and a `gap` marker for each gap) and stops after --seconds.",
    )
    record.add_argument("--seconds", type=_positive, required=True, help="how long to record")
    record.add_argument("-o", "--output", type=Path, required=True, help="new recording file")
    record.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_backend_option(record)
    return {"record": cmd_record}


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def cmd_record(args: argparse.Namespace, config: VagusConfig) -> int:
    from vagus.live import record_live  # noqa: PLC0415

    new_recording(args.output)  # now, not after connecting and recording for --seconds
    backend = args.backend or config.live.backend

    async def go() -> int:
        summary = await record_live(
            config, seconds=args.seconds, output=args.output, backend=backend
        )
        print(json.dumps(summary) if args.json else json.dumps(summary, indent=2))
        return 0 if all(d["notifications"] for d in summary["devices"]) else 1

    return run_ble(go)
