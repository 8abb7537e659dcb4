"""`vagus export fhir`: a console database's measurements and sessions as a FHIR R4 Bundle."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from console.db import DatabaseError
from console.times import BadRangeError
from stream.ids import PATIENT_ID_PATTERN
from vagus.commands.common import Handlers, writable_file
from vagus.config import ConfigError, VagusConfig


def register(commands: Any) -> Handlers:
    export = commands.add_parser(
        "export",
        help="export a console database for the health record",
        description="Export what a clinician console database holds, for other systems.",
    )
    formats = export.add_subparsers(dest="export_format", required=True)
    fhir = formats.add_parser(
        "fhir",
        help="a FHIR R4 Bundle of Observations",
        description="Write the measurements (heart rate, RMSSD, SCR rate, stress probability) "
        "and sessions of one patient, or of every patient, as a FHIR R4 Bundle of Observations "
        "with the subject referenced by pseudonym only (docs/console.md).",
    )
    fhir.add_argument("patient", nargs="?", help="pseudonymous patient id (default: every one)")
    fhir.add_argument("--db", required=True, help="the console's database (path or URL)")
    fhir.add_argument("--since", help="from this time (ISO 8601, UTC unless an offset is given)")
    fhir.add_argument("--until", help="up to this time (ISO 8601)")
    fhir.add_argument("-o", "--output", type=Path, required=True, help="the Bundle's JSON file")
    return {"export": cmd_export}


def cmd_export(args: argparse.Namespace, config: VagusConfig) -> int:
    from console import open_database, queries  # noqa: PLC0415
    from console.fhir import fhir_bundle  # noqa: PLC0415
    from console.schema import create_schema  # noqa: PLC0415
    from console.times import parse_utc  # noqa: PLC0415

    writable_file(args.output)
    if args.patient is not None and not re.fullmatch(PATIENT_ID_PATTERN, args.patient):
        raise ConfigError(f"{args.patient!r} is not a patient pseudonym (p-…)")
    try:
        start = parse_utc(args.since) if args.since else 0
        end = parse_utc(args.until) if args.until else 2**63 - 1
        with open_database(args.db) as db:
            create_schema(db)
            known = queries.patient_ids(db)
            if args.patient is not None and args.patient not in known:
                raise ConfigError(f"the console database has no patient {args.patient}")
            patients = [args.patient] if args.patient else known
            bundle = fhir_bundle(db, patients, start, end, now_ns=time.time_ns())
    except (BadRangeError, DatabaseError) as exc:
        raise ConfigError(str(exc)) from exc
    args.output.write_text(json.dumps(bundle, indent=1) + "\n")
    print(
        f"vagus export: {len(bundle['entry'])} observations of {len(patients)} patient(s)"
        f" -> {args.output}",
        file=sys.stderr,
    )
    return 0
