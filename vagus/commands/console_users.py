"""`vagus console users add|list|assign|unassign|disable|enable|reset-password`: accounts from
the shell (the first admin, and a reset for a forgotten password).

A password is read from standard input (without echo at a terminal, asked twice); it is never
printed, logged or put on the command line. The audit actor is ``cli:<login name>``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from typing import Any

from vagus.config import ConfigError

DB_HELP = "the console's database: a SQLite file path or a postgresql:// URL"


def register_users(console_commands: Any) -> None:
    users = console_commands.add_parser(
        "users",
        help="add, list, assign, disable and enable console accounts, or reset a password",
        description="Manage the console's accounts. Roles: clinician (their assigned patients), "
        "engineer (every patient, read-only diagnostics), admin (accounts and assignments).",
    )
    actions = users.add_subparsers(dest="users_command", required=True)
    add = actions.add_parser(
        "add",
        help="add an account; the password is read from standard input",
        description="Add an account. The password (at least 12 characters) is read from "
        "standard input: typed without echo at a terminal, else the first line.",
    )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("clinician", "engineer", "admin"))
    add.add_argument("--db", required=True, help=DB_HELP)
    listing = actions.add_parser(
        "list",
        help="list the accounts, roles and assigned patients",
        description="One line per account: its name, role, whether it is active, and the "
        "patients assigned to it (clinicians see only those).",
    )
    listing.add_argument("--db", required=True, help=DB_HELP)
    assign = actions.add_parser(
        "assign",
        help="assign a patient to a clinician",
        description="Let the clinician NAME see and tune PATIENT; recorded in the audit trail "
        "as a change made from the shell.",
    )
    assign.add_argument("name")
    assign.add_argument("patient", help="the patient's pseudonym (p-...)")
    assign.add_argument("--db", required=True, help=DB_HELP)
    unassign = actions.add_parser(
        "unassign",
        help="take a patient away from a clinician",
        description="The clinician NAME no longer sees or tunes PATIENT; audited.",
    )
    unassign.add_argument("name")
    unassign.add_argument("patient", help="the patient's pseudonym (p-...)")
    unassign.add_argument("--db", required=True, help=DB_HELP)
    enable = actions.add_parser(
        "enable",
        help="enable a disabled account",
        description="Let the account NAME log in again, with its password as it was; audited.",
    )
    enable.add_argument("name")
    enable.add_argument("--db", required=True, help=DB_HELP)
    reset = actions.add_parser(
        "reset-password",
        help="set a new password for an account whose password was forgotten",
        description="Set NAME's password to one read from standard input (as for add; hand it "
        "over in person and let the user change it under Password). Every session of the "
        "account ends and its failed-login lock is lifted; audited, never with the password.",
    )
    reset.add_argument("name")
    reset.add_argument("--db", required=True, help=DB_HELP)
    disable = actions.add_parser(
        "disable",
        help="disable an account (its sessions end)",
        description="Disable the account NAME: it can no longer log in and its open sessions "
        "end at their next request; its audit entries stay.",
    )
    disable.add_argument("name")
    disable.add_argument("--db", required=True, help=DB_HELP)


def cmd_users(args: argparse.Namespace) -> int:
    from console import accounts, create_schema, open_database  # noqa: PLC0415

    actor, now = f"cli:{getpass.getuser()}", time.time_ns()
    try:
        with open_database(args.db) as db:
            create_schema(db)
            if args.users_command == "add":
                password = _read_password()
                accounts.add_account(db, args.name, args.role, password, actor=actor, now_ns=now)
                print(f"added {args.name} ({args.role})")
            elif args.users_command == "assign":
                accounts.assign(db, args.name, args.patient, True, actor=actor, now_ns=now)
                print(f"assigned {args.patient} to {args.name}")
            elif args.users_command == "unassign":
                accounts.assign(db, args.name, args.patient, False, actor=actor, now_ns=now)
                print(f"unassigned {args.patient} from {args.name}")
            elif args.users_command in ("disable", "enable"):
                disabled = args.users_command == "disable"
                accounts.set_disabled(db, args.name, disabled, actor=actor, now_ns=now)
                print(f"{args.users_command}d {args.name}")
            elif args.users_command == "reset-password":
                if accounts.find_account(db, args.name) is None:  # before asking for a password
                    raise accounts.AccountError(f"there is no account named {args.name}")
                password = _read_password()
                accounts.reset_password(db, args.name, password, actor=actor, now_ns=now)
                print(f"reset the password of {args.name}; its sessions ended")
            else:
                for account in accounts.accounts(db):
                    state = "disabled" if account.disabled else "active"
                    patients = ",".join(sorted(account.patients)) or "-"
                    print(f"{account.name}\t{account.role}\t{state}\t{patients}")
    except accounts.AccountError as exc:
        raise ConfigError(str(exc)) from exc
    return 0


def _read_password() -> str:
    from console.accounts import check_password  # noqa: PLC0415

    if sys.stdin.isatty():
        first = check_password(getpass.getpass("password: "))
        if getpass.getpass("again: ") != first:
            raise ConfigError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return check_password(line.removesuffix("\n").removesuffix("\r"))
