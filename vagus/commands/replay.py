"""`vagus demo` and `vagus replay`: a recording through the same gateway and closed loop."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ingest.replay import Speed
from vagus.commands.common import SPEED_HELP, Handlers, parse_speed, run_async, with_bootstrap
from vagus.config import VagusConfig


def register(commands: Any) -> Handlers:
    demo = commands.add_parser(
        "demo",
        help="run the bundled recording end to end and summarise",
        description="Start a broker (unless --bootstrap), the closed-loop worker and a gateway "
        "with a simulated pacer, replay a recording, and print what happened.",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    demo.add_argument(
        "--speed", type=parse_speed, default=Speed(60.0), help=SPEED_HELP + "\n(default 60x)"
    )
    demo.add_argument("--recording", type=Path, help="recording to replay (default: bundled demo)")
    demo.add_argument("--bootstrap", help="use this Kafka instead of the embedded broker")
    demo.add_argument("--summary-json", type=Path, help="also write the summary to this file")
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    demo.add_argument(
        "--output-dir",
        type=Path,
        default=Path("out/demo"),
        help="where each session's vibroacoustic WAV goes (default out/demo)",
    )

    replay = commands.add_parser(
        "replay",
        help="replay a recording through the gateway (or --dry-run)",
        description="Replay a recording through exactly the decoders and DSP live data uses.",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    replay.add_argument("recording", type=Path)
    replay.add_argument(
        "--speed", type=parse_speed, default=Speed(None), help=SPEED_HELP + "\n(default max)"
    )
    replay.add_argument("--dry-run", action="store_true", help="decode only; no broker")
    replay.add_argument("--bootstrap", help="Kafka bootstrap address (else the embedded broker)")
    replay.add_argument("--json", action="store_true", help="print the result as JSON")
    return {"demo": cmd_demo, "replay": cmd_replay}


def cmd_demo(args: argparse.Namespace, config: VagusConfig) -> int:
    from vagus.demo import DEFAULT_RECORDING, DemoOptions, run_demo  # noqa: PLC0415
    from vagus.report import render_summary  # noqa: PLC0415

    options = DemoOptions(
        recording=args.recording or DEFAULT_RECORDING,
        speed=args.speed,
        config=with_bootstrap(config, args.bootstrap),
        output_dir=args.output_dir,
    )

    async def go() -> int:
        summary = await run_demo(options)
        if args.summary_json:
            args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary) if args.json else render_summary(summary))
        return 0 if summary["events_lost"] == 0 else 1

    return run_async(go)


def cmd_replay(args: argparse.Namespace, config: VagusConfig) -> int:
    if args.dry_run:
        from vagus.dry_run import dry_run  # noqa: PLC0415

        result = dry_run(args.recording)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0
    from vagus.demo import DemoOptions, run_demo  # noqa: PLC0415
    from vagus.report import render_summary  # noqa: PLC0415

    options = DemoOptions(
        recording=args.recording,
        speed=args.speed,
        config=with_bootstrap(config, args.bootstrap),
    )

    async def go() -> int:
        summary = await run_demo(options)
        print(json.dumps(summary) if args.json else render_summary(summary))
        return 0

    return run_async(go)
