"""`vagus console enrol|enrolled|unenrol`: the console's patient enrolment registry, and the
enrolment check `vagus policy set` makes when a console database is configured."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from vagus.commands.common import iso_utc
from vagus.config import VagusConfig

DB_HELP = "the console's database: a SQLite file path or a postgresql:// URL"
COMMANDS = ("enrol", "enrolled", "unenrol")
ACTOR_HELP = (
    "the enabled console account that does it (`vagus console users add`), written to the "
    "account audit as on the Enrolment page"
)


def register(console_commands: Any) -> None:
    """Add the registry's subcommands to `vagus console`."""
    enrol = console_commands.add_parser(
        "enrol",
        help="enrol a patient in the console (policy changes need it)",
        description="Record that a clinician looks after PATIENT (a pseudonym): by whom, when. "
        "Policy changes, from the console or from `vagus policy set` with [console] database "
        "configured, are refused for a patient not enrolled. Enrolling twice keeps the first. "
        "--actor must be an enabled console account; a new enrolment is audited under it.",
    )
    enrol.add_argument("patient", help="pseudonymous patient id (p-...)")
    enrol.add_argument("--db", required=True, help=DB_HELP)
    enrol.add_argument("--actor", required=True, help=ACTOR_HELP)
    listing = console_commands.add_parser(
        "enrolled",
        help="list enrolled patients",
        description="Print the console's registry as JSON: each enrolled pseudonym, who "
        "enrolled it and when (UTC).",
    )
    listing.add_argument("--db", required=True, help=DB_HELP)
    unenrol = console_commands.add_parser(
        "unenrol",
        help="remove a patient from the registry",
        description="Further policy changes are refused; the policy history stays. The removal "
        "is audited under --actor.",
    )
    unenrol.add_argument("patient", help="pseudonymous patient id (p-...)")
    unenrol.add_argument("--db", required=True, help=DB_HELP)
    unenrol.add_argument("--actor", required=True, help=ACTOR_HELP)


def run(args: argparse.Namespace) -> int:
    from console import create_schema, open_database  # noqa: PLC0415
    from console.registry import (  # noqa: PLC0415
        RegistryError,
        enrol_as,
        enrolled,
        unenrol_as,
    )
    from vagus.config import ConfigError  # noqa: PLC0415

    with open_database(args.db) as db:
        create_schema(db)
        try:
            if args.console_command == "enrol":
                found, added = enrol_as(db, args.patient, args.actor, time.time_ns())
                said = "enrolled" if added else "already enrolled"
                when = iso_utc(found.enrolled_ns)
                print(f"{found.patient_id}: {said} by {found.enrolled_by} at {when}")
            elif args.console_command == "unenrol":
                removed = unenrol_as(db, args.patient, args.actor, time.time_ns())
                print(f"{args.patient}: {'unenrolled' if removed else 'was not enrolled'}")
            else:
                rows = [
                    {
                        "patient": e.patient_id,
                        "enrolled_by": e.enrolled_by,
                        "at": iso_utc(e.enrolled_ns),
                    }
                    for e in enrolled(db)
                ]
                print(json.dumps(rows, indent=2))
        except RegistryError as exc:
            raise ConfigError(str(exc)) from exc
    return 0


def check_policy_writable(config: VagusConfig, patient_id: str) -> None:
    """Refuse (NotEnrolledError, a PolicyError) a change for a patient the configured console
    database does not hold; nothing to check when no console database is configured."""
    if config.console.database is None:
        return
    from console.db import DatabaseError  # noqa: PLC0415
    from console.registry import require_enrolled_at  # noqa: PLC0415
    from vagus.config import ConfigError  # noqa: PLC0415

    try:
        require_enrolled_at(config.console.database, patient_id)
    except DatabaseError as exc:
        raise ConfigError(f"[console] database: {exc}") from exc
