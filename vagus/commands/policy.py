"""`vagus policy show|set|history`: the clinician's view of a patient's versioned policy."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import msgspec

from vagus.commands.common import Handlers, iso_utc, run_async, with_bootstrap
from vagus.commands.console_registry import check_policy_writable
from vagus.config import ConfigError, VagusConfig

if TYPE_CHECKING:
    from collections.abc import Sequence

    from closedloop.policy_log import Refused
    from closedloop.policy_store import Published
    from stream.events import AuditEntry, PolicyVersion

PATIENT_HELP = "pseudonymous patient id (p-...)"


def register(commands: Any) -> Handlers:
    policy = commands.add_parser(
        "policy",
        help="show, change (audited) and trace a patient's policy",
        description="Policies are versioned on Kafka; every change is validated against the "
        "safe ranges and recorded with who made it and why.",
    )
    policy.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    show = policy_commands.add_parser(
        "show",
        help="the current policy and its version",
        description="Print the policy the closed loop applies to a patient now, as JSON, and "
        "its version (0: no change yet, the configured default).",
    )
    show.add_argument("patient", help=PATIENT_HELP)
    change = policy_commands.add_parser(
        "set",
        help="change keys: key=value ...",
        description="Publish a new policy version with the given keys changed, after checking "
        "every value against the safe ranges; the change is audited with --actor and --reason. "
        "Nothing is published when a value is refused. Concurrent changes never share a "
        "version: a change that loses its number to another re-bases on it and tries again "
        "(the output says so).",
    )
    change.add_argument("patient", help=PATIENT_HELP)
    change.add_argument("assignments", nargs="+", metavar="key=value")
    change.add_argument(
        "--actor", required=True, help="who makes the change, role:id (e.g. clinician:c-17)"
    )
    change.add_argument(
        "--reason", required=True, help="why, for the audit trail (one line of plain text)"
    )
    change.add_argument("--json", action="store_true", help="last line: one JSON object")
    trail = policy_commands.add_parser(
        "history",
        help="every version and audited change",
        description="Print, as JSON, every accepted policy version of a patient and its "
        "audited change: who, what from and to, why and when (ISO 8601 UTC, with the raw ns); "
        "and every refused record (no audit, unsafe, a race lost) with why.",
    )
    trail.add_argument("patient", help=PATIENT_HELP)
    return {"policy": cmd_policy}


def describe_change(published: Published) -> dict[str, Any]:
    """A published change as one JSON object: the audited old and new values as text, the
    whole new policy typed, and any races it lost (and re-based after) on the way."""
    version, entry = published.version, published.entry
    return {
        "patient": version.patient_id,
        "version": version.version,
        "changed": {key: {"old": entry.old[key], "new": entry.new[key]} for key in entry.new},
        "policy": msgspec.to_builtins(version.policy),
        "actor": entry.actor,
        "reason": entry.reason,
        "published": iso_utc(version.gateway_time_ns),
        "published_ns": version.gateway_time_ns,
        "rebased_after": list(published.lost),
    }


def _version_row(v: PolicyVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "changed_by": v.changed_by,
        "reason": v.change_reason,
        "at": iso_utc(v.gateway_time_ns),
        "at_ns": v.gateway_time_ns,
    }


def describe_history(
    patient: str,
    versions: list[PolicyVersion],
    trail: list[AuditEntry],
    refused: Sequence[Refused] = (),
) -> dict[str, Any]:
    """Accepted versions and their audit entries, then refused records with why (forgeries,
    unsafe policies, races' losers); ISO times, ``at_ns`` stays for readers of the old form."""
    return {
        "patient": patient,
        "versions": [_version_row(v) for v in versions],
        "audit": [
            {
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "old": e.old,
                "new": e.new,
                "reason": e.reason,
                "at": iso_utc(e.gateway_time_ns),
                "at_ns": e.gateway_time_ns,
            }
            for e in trail
        ],
        "refused": [_version_row(r.record) | {"why": r.why} for r in refused],
    }


def cmd_policy(args: argparse.Namespace, config: VagusConfig) -> int:
    from closedloop import policy_store  # noqa: PLC0415

    kafka = with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("policy needs --bootstrap or kafka.bootstrap (a persistent Kafka)")

    async def go() -> int:
        if args.policy_command == "set":
            check_policy_writable(config, args.patient)
            published = await policy_store.publish_change(
                kafka,
                patient_id=args.patient,
                assignments=args.assignments,
                actor=args.actor,
                reason=args.reason,
                default=config.policy,
            )
            version, entry = published.version, published.entry
            print(f"{args.patient}: policy v{version.version} published")
            for lost in published.lost:
                print(f"  (re-based: {lost})")
            for key in entry.new:
                print(f"  {key}: {entry.old[key]} -> {entry.new[key]}")
            if args.json:
                print(json.dumps(describe_change(published)))
            return 0
        log = await policy_store.history(kafka, args.patient, config.policy)
        if args.policy_command == "show":
            state = log.state
            label = "configured default" if state.version == 0 else f"v{state.version}"
            shown = {
                "patient": args.patient,
                "version": state.version,
                "source": label,
                "policy": msgspec.to_builtins(state.policy),
                "refused": len(log.refused),
            }
            print(json.dumps(shown, indent=2))
            return 0
        trail = [v.audit for v in log.accepted if v.audit is not None]
        shown = describe_history(args.patient, log.accepted, trail, log.refused)
        print(json.dumps(shown, indent=2))
        return 0

    return run_async(go)
