"""`vagus recording info`: what a recording holds and whether it is intact."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import msgspec

from vagus.commands.common import Handlers
from vagus.config import VagusConfig


def register(commands: Any) -> Handlers:
    recording = commands.add_parser(
        "recording",
        help="inspect a recording file",
        description="Look inside a vagus recording (docs/recording-format.md) without replaying "
        "it.",
    )
    recording_commands = recording.add_subparsers(dest="recording_command", required=True)
    info = recording_commands.add_parser(
        "info",
        help="header and integrity of a recording",
        description="Print a recording's header, what it holds and any damage (a truncated tail, "
        "skipped chunks, an unreadable header, a record-count mismatch) as JSON. Exit 0 when it "
        "is intact, 3 when it is damaged (what could be read is still counted), 2 when it is "
        "not a recording or nothing in it is readable. Use it before trusting a recording that "
        "was copied or cut short.",
    )
    info.add_argument("recording", type=Path, help="a vagus recording (.vrec)")
    return {"recording": cmd_recording}


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
                "header": msgspec.to_builtins(reader.header) if report.header_readable else None,
                **counts,
                **report.as_dict(),
            },
            indent=2,
        )
    )
    return 0 if report.intact else 3
