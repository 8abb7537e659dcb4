"""`vagus analyze`: a recording through the gateway's own pipeline into a table of windows."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from vagus.commands.common import Handlers
from vagus.config import VagusConfig

TABLE_SUFFIXES = (".csv", ".parquet")


def register(commands: Any) -> Handlers:
    analyze = commands.add_parser(
        "analyze",
        help="a recording's scored windows as a CSV or Parquet table",
        description="Run a recording through the decoders, DSP and stress scoring the gateway "
        "runs (no broker, no pacing) and write one row per feature window: times, features, "
        "signal quality, the stress probability and scorer state, and the episode state. "
        "The patient's baseline is learnt afresh in a temporary directory.",
    )
    analyze.add_argument("recording", type=Path, help="a .vrec recording")
    analyze.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="the table to write: .csv, or .parquet (needs pyarrow)",
    )
    analyze.add_argument("--json", action="store_true", help="end with a one-line JSON summary")
    return {"analyze": cmd_analyze}


def input_problem(path: Path, exc: Exception) -> str:
    """``<path>: <reason>`` for a file that cannot be used, without repeating the path."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    prefix = f"{path}: "
    return reason if reason.startswith(prefix) else prefix + reason


def fail(message: str) -> int:
    """One line on stderr and exit code 2, as the CLI does for the packages' own errors."""
    print(f"vagus: {message}", file=sys.stderr)
    return 2


def cmd_analyze(args: argparse.Namespace, config: VagusConfig) -> int:
    from ingest.errors import RecordingError  # noqa: PLC0415
    from vagus.analysis import TableError, analyze_recording  # noqa: PLC0415

    output: Path = args.output
    suffix = output.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        return fail(f"{output}: write .csv or .parquet, not {suffix or 'no suffix'}")
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        return fail(f"{output}: writing parquet needs pyarrow; install it, or write .csv")
    try:
        table = analyze_recording(args.recording, config)
    except (OSError, RecordingError) as exc:
        return fail(input_problem(args.recording, exc))
    try:
        if suffix == ".csv":
            table.to_csv(output)
        else:
            table.to_parquet(output)
    except (OSError, TableError) as exc:
        return fail(input_problem(output, exc))
    for note in table.notes:
        print(f"vagus: {args.recording}: {note}", file=sys.stderr)
    scored = sum(row["scorer_state"] == "scored" for row in table.rows)
    episodes = len({row["episode_id"] for row in table.rows if row["episode_id"]})
    rows = len(table.rows)
    print(f"{rows} windows ({scored} scored, stress episodes: {episodes}) written to {output}")
    if args.json:
        summary = {
            "recording": str(args.recording),
            "patient_id": table.patient_id,
            "rows": rows,
            "scored": scored,
            "episodes": episodes,
            "output": str(output),
            "format": suffix.removeprefix("."),
            "notes": table.notes,
        }
        print(json.dumps(summary))
    return 0
