"""`vagus demo` and `vagus replay`: a recording through the same gateway and closed loop."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ingest.replay import Speed
from vagus.commands.common import (
    SPEED_HELP,
    Handlers,
    parse_speed,
    readable_recording,
    run_async,
    with_bootstrap,
    writable_file,
    writable_folder,
)
from vagus.config import ConfigError, VagusConfig


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
    demo.add_argument(
        "--kafka",
        action="store_true",
        help="start a local Apache Kafka instead of the embedded broker\n"
        "(JDK 17+; fetched with Maven on first use)",
    )
    demo.add_argument("--summary-json", type=Path, help="also write the summary to this file")
    demo.add_argument(
        "--console-db",
        metavar="DB",
        help="afterwards, fill this clinician console database (a SQLite path or a\n"
        "postgresql:// URL) from the demo's topics: vagus console serve --db DB",
    )
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
    replay.add_argument("recording", type=Path, help="a vagus recording (.vrec)")
    replay.add_argument(
        "--speed", type=parse_speed, default=Speed(None), help=SPEED_HELP + "\n(default max)"
    )
    replay.add_argument("--dry-run", action="store_true", help="decode only; no broker")
    replay.add_argument("--bootstrap", help="Kafka bootstrap address (else the embedded broker)")
    replay.add_argument("--json", action="store_true", help="print the result as JSON")
    return {"demo": cmd_demo, "replay": cmd_replay}


def cmd_demo(args: argparse.Namespace, config: VagusConfig) -> int:
    from vagus.demo import DEFAULT_RECORDING, DemoError, DemoOptions, run_demo  # noqa: PLC0415
    from vagus.demo_console import log_to_file  # noqa: PLC0415
    from vagus.report import render_summary  # noqa: PLC0415
    from vagus.summary import demo_problems  # noqa: PLC0415

    # Checked before a broker and a worker start, not minutes into the run.
    readable_recording(args.recording or DEFAULT_RECORDING)
    if args.summary_json:
        writable_file(args.summary_json)
    writable_folder(args.output_dir)
    if args.console_db and "://" not in args.console_db:
        writable_file(Path(args.console_db))
    if args.kafka and args.bootstrap:
        raise ConfigError("--kafka starts a local Kafka; --bootstrap names one: pick one")
    run_dir = args.output_dir / time.strftime("run-%Y%m%dT%H%M%SZ", time.gmtime())
    options = DemoOptions(
        local_kafka=args.kafka,
        recording=args.recording or DEFAULT_RECORDING,
        speed=args.speed,
        config=with_bootstrap(config, args.bootstrap),
        output_dir=run_dir,
        run_dir=run_dir,
        progress=sys.stderr,
        patient_keys=sys.stdin is not None and sys.stdin.isatty(),
        console_db=args.console_db,
    )
    log_file = log_to_file(run_dir / "vagus-demo.log")

    async def go() -> int:
        try:
            summary = await run_demo(options)
        except DemoError as exc:
            print(f"vagus demo: {exc} (log: {log_file})", file=sys.stderr)
            return 1
        summary |= {"log_file": str(log_file)}
        if args.summary_json:
            args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary) if args.json else render_summary(summary))
        if "console_db" in summary and not args.json:
            print(
                f"  console         {summary['console_events_stored']} events stored in"
                f" {args.console_db}: vagus console serve --db {args.console_db}"
            )
        problems = demo_problems(summary)
        if args.json:
            for problem in problems:
                print(f"vagus demo: {problem}", file=sys.stderr)
        return 1 if problems else 0

    return run_async(go)


def cmd_replay(args: argparse.Namespace, config: VagusConfig) -> int:
    if args.dry_run:
        from vagus.dry_run import dry_run  # noqa: PLC0415

        result = dry_run(args.recording)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0 if result["file"]["intact"] else 3  # as `vagus recording info`
    readable_recording(args.recording)  # before a broker and a worker start for nothing
    from vagus.demo import DemoError, DemoOptions, run_demo  # noqa: PLC0415
    from vagus.report import render_summary  # noqa: PLC0415
    from vagus.summary import demo_problems  # noqa: PLC0415

    options = DemoOptions(
        recording=args.recording,
        speed=args.speed,
        config=with_bootstrap(config, args.bootstrap),
    )

    async def go() -> int:
        try:
            summary = await run_demo(options)
        except DemoError as exc:
            print(f"vagus replay: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(summary) if args.json else render_summary(summary))
        # a run cut short (a worker or broker died) or with events left waiting fails; a demo
        # that merely started no session is still a replay that did its job
        stopped = not summary["completed"] or summary["events_spooled"]
        if stopped:
            for problem in demo_problems(summary):
                print(f"vagus replay: {problem}", file=sys.stderr)
        return 1 if stopped else 0

    return run_async(go)
