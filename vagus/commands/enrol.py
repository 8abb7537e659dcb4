"""`vagus enrol issue|list|revoke`: which gateway may speak for which patient.

Run where the closed-loop worker runs: the worker's registry (``[enrolment] registry_file``)
gets each issued key, and the gateway's key file goes to this machine's gateway state folder or
to ``--out`` for a gateway elsewhere. Both files are owner-only; no command prints a secret.
See docs/enrolment.md.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from stream.enrolment import (
    EnrolledKey,
    issue_key,
    read_registry,
    revoke_key,
    write_gateway_key,
)
from stream.ids import PATIENT_ID_PATTERN
from stream.signing import KEY_ID_PATTERN
from vagus.commands.common import Handlers, iso_utc, writable_file
from vagus.config import VagusConfig
from vagus.state_paths import state_paths


def _patient(text: str) -> str:
    if not re.fullmatch(PATIENT_ID_PATTERN, text):
        raise argparse.ArgumentTypeError("a patient id is a pseudonym like p-7k3m9q2x4v8w")
    return text


def _key_id(text: str) -> str:
    if not re.fullmatch(KEY_ID_PATTERN, text):
        raise argparse.ArgumentTypeError("a key id is 12 lowercase hex digits")
    return text


def register(commands: Any) -> Handlers:
    enrol = commands.add_parser(
        "enrol",
        help="issue, list and revoke gateway keys",
        description="The closed-loop worker acts only on events signed by a gateway key "
        "enrolled for their patient. Run these where the worker runs; rotation is issuing a "
        "new key, then revoking the old one once the gateway uses the new.",
    )
    actions = enrol.add_subparsers(dest="enrol_command", required=True, metavar="ACTION")
    issue = actions.add_parser(
        "issue",
        help="issue a new key for a patient's gateway",
        description="Add a new key for PATIENT to the worker's registry and write the "
        "gateway's key file (0600): into this machine's gateway state folder, or --out for a "
        "gateway elsewhere (copy it into that gateway's state folder as gateway-key.json). "
        "Keys issued before stay valid until revoked.",
    )
    issue.add_argument("patient", type=_patient, help="pseudonymous patient id (p-...)")
    issue.add_argument("--out", type=Path, help="write the gateway's key file here instead")
    issue.add_argument("--json", action="store_true", help="print one JSON object")
    listing = actions.add_parser(
        "list",
        help="every issued key: id, patient, dates (never a secret)",
        description="List the registry's keys with their patient, when each was issued and "
        "when it was revoked.",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    revoke = actions.add_parser(
        "revoke",
        help="stop accepting a key's events",
        description="Mark KEY_ID revoked. A running worker refuses its events from the next "
        "record on (it re-reads the registry when it changes); it stays listed.",
    )
    revoke.add_argument("key_id", type=_key_id, help="the key id (12 hex digits)")
    return {"enrol": cmd_enrol}


def describe(key: EnrolledKey) -> dict[str, Any]:
    """A key as the commands print it: everything but the secret."""
    revoked = key.revoked_at_ns
    return {
        "key_id": key.key_id,
        "patient_id": key.patient_id,
        "issued": iso_utc(key.issued_at_ns),
        "revoked": None if revoked is None else iso_utc(revoked),
    }


def cmd_enrol(args: argparse.Namespace, config: VagusConfig) -> int:
    registry = config.enrolment.registry_path()
    if args.enrol_command == "issue":
        return _issue(args, config, registry)
    if args.enrol_command == "revoke":
        key = revoke_key(registry, args.key_id)
        print(f"revoked key {key.key_id} of {key.patient_id} ({describe(key)['revoked']})")
        return 0
    keys = [describe(key) for key in read_registry(registry)]
    if args.json:
        print(json.dumps({"registry": str(registry), "keys": keys}))
        return 0
    print(f"{'key id':<13} {'patient':<15} {'issued':<21} revoked")
    for row in keys:
        revoked = row["revoked"] or "-"
        print(f"{row['key_id']:<13} {row['patient_id']:<15} {row['issued']:<21} {revoked}")
    return 0


def _issue(args: argparse.Namespace, config: VagusConfig, registry: Path) -> int:
    key_file = args.out if args.out is not None else state_paths(config).key_file
    if args.out is not None:
        writable_file(args.out)  # before a key exists that nobody could hold
    entry = issue_key(registry, args.patient)
    try:
        write_gateway_key(key_file, entry.gateway_key(), issued_at_ns=entry.issued_at_ns)
    except OSError:
        revoke_key(registry, entry.key_id)  # never leave a valid key that no gateway holds
        raise
    result = describe(entry) | {"key_file": str(key_file), "registry": str(registry)}
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"issued key {entry.key_id} for {entry.patient_id}; gateway key file: {key_file}"
            f" (owner-only; the gateway reads it from its state folder as gateway-key.json)."
            " Earlier keys of this patient stay valid until `vagus enrol revoke KEY_ID`."
        )
    return 0
