"""`vagus import wfdb|e4`: public recordings as vagus recordings that replay through the same
decoders as live data (docs/recording-format.md, "Imported recordings")."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path
from typing import Any

from vagus.commands.common import Handlers, new_recording, readable_file
from vagus.config import VagusConfig


def register(commands: Any) -> Handlers:
    importing = commands.add_parser(
        "import",
        help="WFDB, E4, EDF, ISHNE or actigraphy files as a recording",
        description="Convert a public recording into a vagus recording, so it replays through "
        "the same decoders and DSP as live data (docs/recording-format.md).",
    )
    formats = importing.add_subparsers(dest="import_format", required=True, metavar="FORMAT")
    wfdb = formats.add_parser(
        "wfdb",
        help="a PhysioNet WFDB record (any format) with annotations",
        description="Convert a PhysioNet WFDB record (its .hea, signal and annotation files, in "
        "any WFDB storage format, or an annotation file alone) into a recording, one device per "
        "signal and each annotation as a marker. Use it to replay annotated ECG, e.g. MIT-BIH, "
        "through the beat detector. Needs the 'formats' extra (the wfdb package).",
    )
    wfdb.add_argument("record", type=Path, help="record path without extension, e.g. data/100")
    wfdb.add_argument("-o", "--output", type=Path, required=True, help="recording to write")
    wfdb.add_argument("--annotator", default="atr", help="annotation file suffix (default atr)")
    wfdb.add_argument(
        "--start",
        help="ISO 8601 time of the first sample (default: the header's base date and time, "
        "else 1970-01-01T00:00:00Z)",
    )
    e4 = formats.add_parser(
        "e4",
        help="an Empatica E4 CSV export folder",
        description="Convert an Empatica E4 export folder (EDA, BVP, ACC, TEMP, HR, IBI and tags "
        "CSV files) into a recording, values and times kept exactly. Use it to replay public "
        "wrist data through the same decoders as a live device.",
    )
    e4.add_argument("folder", type=Path, help="the unpacked export folder")
    e4.add_argument("-o", "--output", type=Path, required=True, help="recording to write")
    edf = formats.add_parser(
        "edf",
        help="an EDF or EDF+ file with its annotations",
        description="Convert an EDF or EDF+ (continuous or discontinuous) file into a recording: "
        "one device per signal with the file's digital values and physical map, and EDF+ "
        "annotations as markers. Patient and recording fields are not copied.",
    )
    edf.add_argument("file", type=Path, help="the .edf file")
    edf.add_argument("-o", "--output", type=Path, required=True, help="recording to write")
    ishne = formats.add_parser(
        "ishne",
        help="an ISHNE 1.0 Holter ECG file",
        description="Convert an ISHNE 1.0 Holter ECG file into a recording, one device per lead "
        "in µV, after checking the header CRC. Names and birth date are not copied.",
    )
    ishne.add_argument("file", type=Path, help="the ISHNE .ecg file")
    ishne.add_argument("-o", "--output", type=Path, required=True, help="recording to write")
    epoch_parsers = []
    for vendor, what in (
        ("actigraph", "an ActiGraph ActiLife"),
        ("actiware", "a Philips Actiware"),
    ):
        sub = formats.add_parser(
            vendor,
            help=f"{what} CSV export of epoch activity counts",
            description=f"Convert {what} CSV export of epoch counts into a recording (stream "
            "'counts', one sample per epoch, the count scale in the profile name). Epochs must be "
            "evenly spaced; clock times without a zone are taken as UTC.",
        )
        sub.add_argument("file", type=Path, help="the exported .csv file")
        sub.add_argument("-o", "--output", type=Path, required=True, help="recording to write")
        epoch_parsers.append(sub)
    for sub in (wfdb, e4, edf, ishne, *epoch_parsers):
        sub.add_argument("--patient-id", help="pseudonym to record (default derived, p-...)")
    return {"import": cmd_import}


def cmd_import(args: argparse.Namespace, config: VagusConfig) -> int:
    import re  # noqa: PLC0415

    from ingest.errors import RecordingError  # noqa: PLC0415
    from stream.ids import PATIENT_ID_PATTERN  # noqa: PLC0415

    if args.patient_id is not None and not re.match(PATIENT_ID_PATTERN, args.patient_id):
        raise RecordingError(f"--patient-id must look like p-xxxxxxxxxxxx ({PATIENT_ID_PATTERN})")
    new_recording(args.output)
    if args.import_format == "wfdb":
        from ingest.importers.wfdb_import import import_wfdb, parse_start  # noqa: PLC0415

        readable_file(args.record.with_suffix(".hea"))  # the path as the importer opens it
        start = None if args.start is None else parse_start(args.start)
        summary = import_wfdb(
            args.record,
            args.output,
            start_time_ns=start,
            annotator=args.annotator,
            patient_id=args.patient_id,
        )
    elif args.import_format == "edf":
        from ingest.importers.edf import import_edf  # noqa: PLC0415

        readable_file(args.file)
        summary = import_edf(args.file, args.output, patient_id=args.patient_id)
    elif args.import_format in {"actigraph", "actiware"}:
        from ingest.importers.actigraphy import import_actigraphy  # noqa: PLC0415

        readable_file(args.file)
        summary = import_actigraphy(
            args.file, args.output, vendor=args.import_format, patient_id=args.patient_id
        )
    elif args.import_format == "ishne":
        from ingest.importers.ishne import import_ishne  # noqa: PLC0415

        readable_file(args.file)
        summary = import_ishne(args.file, args.output, patient_id=args.patient_id)
    else:
        from ingest.importers.e4 import import_e4  # noqa: PLC0415

        if not args.folder.is_dir():
            code = errno.ENOTDIR if args.folder.exists() else errno.ENOENT
            raise OSError(code, os.strerror(code), str(args.folder))
        summary = import_e4(args.folder, args.output, patient_id=args.patient_id)
    print(json.dumps(summary))
    _say_skipped(summary)
    return 0


def _say_skipped(summary: dict[str, object]) -> None:
    """One stderr line per input file left out, so nothing is dropped without a word."""
    for key, what in (("skipped", "file"), ("skipped_columns", "column")):
        skipped = summary.get(key)
        if isinstance(skipped, dict):
            for name, reason in skipped.items():
                print(f"vagus import: skipped {what} {name}: {reason}", file=sys.stderr)
