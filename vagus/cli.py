"""The `vagus` command line: one subcommand per job, each a thin call into the packages."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import msgspec

from closedloop.policy import PolicyError
from ingest.errors import IngestError
from ingest.replay import Speed
from stream.errors import StreamError
from vagus.config import ConfigError, VagusConfig, load_config
from vagus.model.cli import add_model_commands, cmd_model

SPEED_HELP = textwrap.dedent(
    """\
    replay pace; the original timestamps are kept whatever the pace:
      realtime  as recorded (1x)
      N or Nx   N times real time, e.g. 10x or 0.5
      max       as fast as the pipeline goes; the gateway then waits for the
                closed loop's decision on each window it must decide on, so
                decisions stay causal"""
)


def _speed(text: str) -> Speed:
    try:
        return Speed.parse(text)
    except IngestError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def configure_logging(verbose: bool) -> None:
    """Our own progress at INFO with -v; client libraries only when something is wrong."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "faust", "mode", "kafka"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vagus",
        description="Wearable signals to calming interventions, closed loop. Research software, "
        "not a medical device.",
    )
    parser.add_argument("--config", type=Path, help="TOML (or JSON) configuration file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the bundled recording end to end and summarise",
        description="Start a broker (unless --bootstrap), the closed-loop worker and a gateway "
        "with a simulated pacer, replay a recording, and print what happened.",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    demo.add_argument(
        "--speed", type=_speed, default=Speed(60.0), help=SPEED_HELP + "\n(default 60x)"
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
        "--speed", type=_speed, default=Speed(None), help=SPEED_HELP + "\n(default max)"
    )
    replay.add_argument("--dry-run", action="store_true", help="decode only; no broker")
    replay.add_argument("--bootstrap", help="Kafka bootstrap address (else the embedded broker)")
    replay.add_argument("--json", action="store_true", help="print the result as JSON")

    recording = commands.add_parser("recording", help="inspect a recording file")
    recording_commands = recording.add_subparsers(dest="recording_command", required=True)
    info = recording_commands.add_parser("info", help="header and integrity of a recording")
    info.add_argument("recording", type=Path)

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

    policy = commands.add_parser(
        "policy",
        help="show, change (audited) and trace a patient's policy",
        description="Policies are versioned on Kafka; every change is validated against the "
        "safe ranges and recorded with who made it and why.",
    )
    policy.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    show = policy_commands.add_parser("show", help="the current policy and its version")
    show.add_argument("patient", help="pseudonymous patient id (p-...)")
    change = policy_commands.add_parser("set", help="change keys: key=value ...")
    change.add_argument("patient", help="pseudonymous patient id (p-...)")
    change.add_argument("assignments", nargs="+", metavar="key=value")
    change.add_argument("--actor", required=True, help="who makes the change (e.g. clinician:c-17)")
    change.add_argument("--reason", required=True, help="why, for the audit trail")
    trail = policy_commands.add_parser("history", help="every version and audited change")
    trail.add_argument("patient", help="pseudonymous patient id (p-...)")
    add_model_commands(commands)
    return parser


def _with_bootstrap(config: VagusConfig, bootstrap: str | None) -> VagusConfig:
    if bootstrap is None:
        return config
    return msgspec.structs.replace(config, kafka=config.kafka.with_bootstrap(bootstrap))


def _run(coroutine_factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a coroutine so that SIGINT and SIGTERM both unwind it through its finally blocks."""

    async def main() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await coroutine_factory()

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("vagus: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130


def cmd_demo(args: argparse.Namespace, config: VagusConfig) -> int:
    from vagus.demo import DEFAULT_RECORDING, DemoOptions, run_demo  # noqa: PLC0415
    from vagus.report import render_summary  # noqa: PLC0415

    options = DemoOptions(
        recording=args.recording or DEFAULT_RECORDING,
        speed=args.speed,
        config=_with_bootstrap(config, args.bootstrap),
        output_dir=args.output_dir,
    )

    async def go() -> int:
        summary = await run_demo(options)
        if args.summary_json:
            args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary) if args.json else render_summary(summary))
        return 0 if summary["events_lost"] == 0 else 1

    return _run(go)


def cmd_replay(args: argparse.Namespace, config: VagusConfig) -> int:
    if args.dry_run:
        from vagus.dry_run import dry_run  # noqa: PLC0415

        result = dry_run(args.recording)
        if args.json:
            print(json.dumps(result))
        else:
            print(json.dumps(result, indent=2))
        return 0
    from vagus.demo import DemoOptions, run_demo  # noqa: PLC0415
    from vagus.report import render_summary  # noqa: PLC0415

    options = DemoOptions(
        recording=args.recording,
        speed=args.speed,
        config=_with_bootstrap(config, args.bootstrap),
    )

    async def go() -> int:
        summary = await run_demo(options)
        print(json.dumps(summary) if args.json else render_summary(summary))
        return 0

    return _run(go)


def cmd_recording(args: argparse.Namespace, config: VagusConfig) -> int:
    from ingest.recording import RecordingReader  # noqa: PLC0415

    reader = RecordingReader(args.recording)
    counts = {"notifications": 0, "markers": 0, "devices_added": 0}
    for record in reader:
        kind = type(record).__name__
        key = {"NotificationRecord": "notifications", "Marker": "markers"}.get(
            kind, "devices_added"
        )
        counts[key] += 1
    report = reader.report
    print(
        json.dumps(
            {
                "header": msgspec.to_builtins(reader.header),
                **counts,
                "chunks": report.chunks,
                "clean_end": report.clean_end,
                "truncated_tail_bytes": report.truncated_tail_bytes,
                "corrupt_chunks": report.corrupt_chunks,
                "problems": report.problems,
            },
            indent=2,
        )
    )
    return 0 if report.intact else 3


def cmd_closedloop(args: argparse.Namespace, config: VagusConfig) -> int:
    from closedloop.app import ClosedLoopWorker  # noqa: PLC0415

    kafka = _with_bootstrap(config, args.bootstrap).kafka
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

    return _run(go)


def cmd_topics(args: argparse.Namespace, config: VagusConfig) -> int:
    from vagus.demo import create_topics  # noqa: PLC0415

    kafka = _with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("topics needs --bootstrap or kafka.bootstrap")

    async def go() -> int:
        await create_topics(kafka)
        print("\n".join(kafka.topics.all()))
        return 0

    return _run(go)


def cmd_policy(args: argparse.Namespace, config: VagusConfig) -> int:
    from closedloop import policy_store  # noqa: PLC0415

    kafka = _with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("policy needs --bootstrap or kafka.bootstrap (a persistent Kafka)")

    async def go() -> int:
        if args.policy_command == "set":
            version, entry = await policy_store.change(
                kafka,
                patient_id=args.patient,
                assignments=args.assignments,
                actor=args.actor,
                reason=args.reason,
                default=config.policy,
            )
            print(f"{args.patient}: policy v{version.version} published")
            for key in entry.new:
                print(f"  {key}: {entry.old[key]} -> {entry.new[key]}")
            return 0
        versions = await policy_store.history(kafka, args.patient)
        if args.policy_command == "show":
            state = policy_store.current(versions, config.policy)
            label = "configured default" if state.version == 0 else f"v{state.version}"
            print(
                json.dumps(
                    {
                        "patient": args.patient,
                        "version": state.version,
                        "source": label,
                        "policy": msgspec.to_builtins(state.policy),
                    },
                    indent=2,
                )
            )
            return 0
        trail = await policy_store.audit_trail(kafka, args.patient)
        print(
            json.dumps(
                {
                    "patient": args.patient,
                    "versions": [
                        {
                            "version": v.version,
                            "changed_by": v.changed_by,
                            "reason": v.change_reason,
                            "at_ns": v.gateway_time_ns,
                        }
                        for v in versions
                    ],
                    "audit": [
                        {
                            "actor": e.actor,
                            "action": e.action,
                            "target": e.target,
                            "old": e.old,
                            "new": e.new,
                            "reason": e.reason,
                            "at_ns": e.gateway_time_ns,
                        }
                        for e in trail
                    ],
                },
                indent=2,
            )
        )
        return 0

    return _run(go)


COMMANDS: dict[str, Callable[[argparse.Namespace, VagusConfig], int]] = {
    "demo": cmd_demo,
    "replay": cmd_replay,
    "recording": cmd_recording,
    "closedloop": cmd_closedloop,
    "broker": cmd_broker,
    "topics": cmd_topics,
    "policy": cmd_policy,
    "model": cmd_model,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        config = load_config(args.config)
        return COMMANDS[args.command](args, config)
    except (ConfigError, IngestError, StreamError, PolicyError) as exc:
        print(f"vagus: {exc}", file=sys.stderr)
        return 2
