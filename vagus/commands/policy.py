"""`vagus policy show|set|history`: the clinician's view of a patient's versioned policy."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import msgspec

from vagus.commands.common import Handlers, iso_utc, run_async, with_bootstrap
from vagus.config import ConfigError, VagusConfig

if TYPE_CHECKING:
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
        "Nothing is published when a value is refused.",
    )
    change.add_argument("patient", help=PATIENT_HELP)
    change.add_argument("assignments", nargs="+", metavar="key=value")
    change.add_argument("--actor", required=True, help="who makes the change (e.g. clinician:c-17)")
    change.add_argument("--reason", required=True, help="why, for the audit trail")
    change.add_argument("--json", action="store_true", help="last line: one JSON object")
    trail = policy_commands.add_parser(
        "history",
        help="every version and audited change",
        description="Print, as JSON, every policy version of a patient and every audited "
        "change: who, what from and to, why and when (ISO 8601 UTC, with the raw ns).",
    )
    trail.add_argument("patient", help=PATIENT_HELP)
    return {"policy": cmd_policy}


def describe_change(version: PolicyVersion, entry: AuditEntry) -> dict[str, Any]:
    """A published change as one JSON object: the audited old and new values as text, the
    whole new policy typed."""
    return {
        "patient": version.patient_id,
        "version": version.version,
        "changed": {key: {"old": entry.old[key], "new": entry.new[key]} for key in entry.new},
        "policy": msgspec.to_builtins(version.policy),
        "actor": entry.actor,
        "reason": entry.reason,
        "published": iso_utc(version.gateway_time_ns),
        "published_ns": version.gateway_time_ns,
    }


def describe_history(
    patient: str, versions: list[PolicyVersion], trail: list[AuditEntry]
) -> dict[str, Any]:
    """Versions and audit entries with ISO times; ``at_ns`` stays for readers of the old form."""
    return {
        "patient": patient,
        "versions": [
            {
                "version": v.version,
                "changed_by": v.changed_by,
                "reason": v.change_reason,
                "at": iso_utc(v.gateway_time_ns),
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
                "at": iso_utc(e.gateway_time_ns),
                "at_ns": e.gateway_time_ns,
            }
            for e in trail
        ],
    }


def cmd_policy(args: argparse.Namespace, config: VagusConfig) -> int:
    from closedloop import policy_store  # noqa: PLC0415

    kafka = with_bootstrap(config, args.bootstrap).kafka
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
            if args.json:
                print(json.dumps(describe_change(version, entry)))
            return 0
        versions = await policy_store.history(kafka, args.patient)
        if args.policy_command == "show":
            state = policy_store.current(versions, config.policy)
            label = "configured default" if state.version == 0 else f"v{state.version}"
            shown = {
                "patient": args.patient,
                "version": state.version,
                "source": label,
                "policy": msgspec.to_builtins(state.policy),
            }
            print(json.dumps(shown, indent=2))
            return 0
        trail = await policy_store.audit_trail(kafka, args.patient)
        print(json.dumps(describe_history(args.patient, versions, trail), indent=2))
        return 0

    return run_async(go)
