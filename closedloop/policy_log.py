"""Which policy version is current: one rule over a patient's policy log, for every reader.

The policy topic is keyed by patient, so each patient's versions form one ordered log. Writers
do not coordinate (the broker may offer no transactions): each appends a candidate
``PolicyVersion`` numbered one past the current version, with its audit entry embedded, then
reads the log back. :func:`refusal` judges each record against the state the records before
it left, so a record's fate is fixed once it is written, and the CLI, the worker and any console
that fold the same log reach the same current version. A refused record (a race's loser, a
forgery, an unsafe policy) changes nothing: the next version is based on the last accepted one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from re import fullmatch

import msgspec

from closedloop.policy import policy_problems
from stream.events import AuditEntry, PolicySnapshot, PolicyVersion

#: The action an audit entry of a policy change carries.
SET_ACTION = "policy.set"
MAX_ACTOR_CHARS = 128
MAX_REASON_CHARS = 500
#: ``role:id``, e.g. ``clinician:c-17`` or ``clinician:jane.doe@ward-3``.
ACTOR_PATTERN = r"[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9][A-Za-z0-9._@-]*"


def text_problems(actor: str, reason: str) -> list[str]:
    """Why ``actor`` or ``reason`` is not plain, bounded audit text; empty when both are.

    Control and format characters (newline, tab, escape, NUL, bidi overrides) are refused, not
    stripped: they can forge extra lines or hide text in a trail a clinician reads.
    """
    problems = []
    if len(actor) > MAX_ACTOR_CHARS or not fullmatch(ACTOR_PATTERN, actor):
        problems.append(
            f"actor {actor[:MAX_ACTOR_CHARS]!r} must look like role:id (e.g. clinician:c-17): "
            f"a lower-case role, then letters, digits or . _ @ -, at most {MAX_ACTOR_CHARS} "
            "characters"
        )
    if not reason.strip():
        problems.append("reason must not be empty")
    elif len(reason) > MAX_REASON_CHARS:
        problems.append(f"reason is longer than {MAX_REASON_CHARS} characters")
    elif any(_is_control(char) for char in reason):
        problems.append("reason must be plain text: no newline, tab or other control characters")
    return problems


def _is_control(char: str) -> bool:
    return unicodedata.category(char)[0] == "C" or unicodedata.category(char) in {"Zl", "Zp"}


def audited_changes(
    old: PolicySnapshot, new: PolicySnapshot
) -> tuple[dict[str, str], dict[str, str]]:
    """The audit's ``old`` and ``new`` for a change: the differing fields, values as text."""
    before = msgspec.structs.asdict(old)
    after = msgspec.structs.asdict(new)
    changed = sorted(key for key in after if after[key] != before[key])
    return {key: str(before[key]) for key in changed}, {key: str(after[key]) for key in changed}


def audit_target(base: int, version: int) -> str:
    return f"policy v{base} -> v{version}"


@dataclass(frozen=True, slots=True)
class PolicyState:
    """A patient's current policy and the version it carries (0: the configured default)."""

    version: int
    policy: PolicySnapshot
    #: The accepted record this state comes from; ``None`` for the configured default.
    record: PolicyVersion | None = None


def refusal(current: PolicyState, taken: dict[int, PolicyVersion], record: PolicyVersion) -> str:
    """Why ``record`` cannot become current after ``current``; empty when it does.

    ``taken`` maps each version accepted earlier in the log to its record, to name a race's
    winner. The checks run in this order so that a race's loser is told it lost, not more.
    """
    if record.audit is None:
        return "no audit entry"
    text = "; ".join(text_problems(record.changed_by, record.change_reason))
    if text:
        return text
    numbering = _numbering_problem(current, taken, record)
    if numbering:
        return numbering
    if not _audit_matches(current, record, record.audit):
        return "the audit entry does not match the version"
    return _content_problem(current, record.policy, record.audit)


def _content_problem(current: PolicyState, policy: PolicySnapshot, audit: AuditEntry) -> str:
    problems = policy_problems(policy)
    if problems:
        return "unsafe: " + "; ".join(problems)
    old, new = audited_changes(current.policy, policy)
    if not new:
        return f"changes nothing from v{current.version}"
    if (audit.old, audit.new) != (old, new):
        return f"the audit entry does not describe the change from v{current.version}"
    return ""


def _numbering_problem(
    current: PolicyState, taken: dict[int, PolicyVersion], record: PolicyVersion
) -> str:
    if record.version <= current.version:
        winner = taken.get(record.version)
        who = winner.changed_by if winner is not None else "another writer"
        return f"lost the race to {who}'s v{record.version}"
    if record.version != current.version + 1:
        return f"v{record.version} does not follow the current v{current.version}"
    return ""


def _audit_matches(current: PolicyState, record: PolicyVersion, audit: AuditEntry) -> bool:
    return (
        audit.patient_id == record.patient_id
        and audit.action == SET_ACTION
        and audit.actor == record.changed_by
        and audit.reason == record.change_reason
        and audit.target == audit_target(current.version, record.version)
    )


@dataclass(frozen=True, slots=True)
class Refused:
    record: PolicyVersion
    why: str


@dataclass
class PolicyLog:
    """One patient's log folded so far: the current state, what was accepted and refused."""

    state: PolicyState
    accepted: list[PolicyVersion] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    _taken: dict[int, PolicyVersion] = field(default_factory=dict)
    _seen_ids: set[str] = field(default_factory=set)

    @classmethod
    def empty(cls, default: PolicySnapshot) -> PolicyLog:
        return cls(PolicyState(0, default))

    def add(self, record: PolicyVersion) -> str:
        """Fold the next record in log order; return why it was refused ('' when accepted).

        A record whose event id was already folded (a producer retry's duplicate) is ignored.
        """
        if record.event_id in self._seen_ids:
            return ""
        self._seen_ids.add(record.event_id)
        why = refusal(self.state, self._taken, record)
        if why:
            self.refused.append(Refused(record, why))
            return why
        self.state = PolicyState(record.version, record.policy, record)
        self.accepted.append(record)
        self._taken[record.version] = record
        return ""

    def verdict(self, event_id: str) -> str | None:
        """'' when the record with ``event_id`` was accepted, why when refused, None if unseen."""
        if any(record.event_id == event_id for record in self.accepted):
            return ""
        return next((r.why for r in self.refused if r.record.event_id == event_id), None)


def current_policy(records: Iterable[PolicyVersion], default: PolicySnapshot) -> PolicyLog:
    """Fold one patient's records, in log order, from the configured default."""
    log = PolicyLog.empty(default)
    for record in records:
        log.add(record)
    return log
