"""`vagus report`: one self-contained HTML page about a recording or a demo's run directory."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vagus.commands.analyze import fail, input_problem
from vagus.commands.common import Handlers
from vagus.config import VagusConfig


def register(commands: Any) -> Handlers:
    report = commands.add_parser(
        "report",
        help="an HTML report with figures of a run directory or recording",
        description="Write one self-contained HTML file (figures embedded as PNG): a timeline "
        "of heart rate, RMSSD, SCR rate and stress probability with the threshold, stress "
        "episodes and sessions marked, and each session's before/during/after. A folder is "
        "read as a run directory (events.jsonl, summary.json, as the demo writes them); a file "
        "as a recording, analysed afresh like `vagus analyze` (a recording holds no sessions).",
    )
    report.add_argument("source", type=Path, help="a run directory or a .vrec recording")
    report.add_argument("-o", "--output", type=Path, required=True, help="the HTML file to write")
    report.add_argument("--json", action="store_true", help="end with a one-line JSON summary")
    return {"report": cmd_report}


def cmd_report(args: argparse.Namespace, config: VagusConfig) -> int:
    from ingest.errors import RecordingError  # noqa: PLC0415
    from vagus.reporting import write_report  # noqa: PLC0415
    from vagus.run_dir import RunDirError  # noqa: PLC0415

    source: Path = args.source
    if not source.exists():
        return fail(f"{source}: No such file or directory")
    try:
        result = write_report(source, args.output, config)
    except (RecordingError, RunDirError) as exc:
        return fail(input_problem(source, exc))
    except OSError as exc:  # the input, or the output when that is the file it names
        return fail(input_problem(Path(exc.filename) if exc.filename else source, exc))
    for problem in result.problems:
        print(f"vagus: {source}: {problem}", file=sys.stderr)
    print(
        f"report written to {result.path} ({result.size_bytes / 1024:.0f} kB; figures:"
        f" {result.figures}, windows: {result.windows}, sessions: {result.sessions})"
    )
    if args.json:
        summary = {
            "source": str(source),
            "output": str(result.path),
            "bytes": result.size_bytes,
            "figures": result.figures,
            "windows": result.windows,
            "sessions": result.sessions,
            "problems": result.problems,
        }
        print(json.dumps(summary))
    return 0
