"""Tuning a patient's policy from the console: the form, its validation, and the publish.

Nothing here has a rule of its own. A form is turned into the ``key=value`` assignments the CLI
takes and checked by the CLI's functions (``closedloop.policy_store.parse_assignments``, then
``closedloop.policy.with_changes`` against ``SAFE_RANGES``), so the console refuses exactly what
``vagus policy set`` refuses, with the same words. Publishing calls the CLI's audited path
(``closedloop.policy_store.publish_change``) with the signed-in clinician as the actor, after the
console's enrolment registry has said the patient is enrolled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from closedloop.policy import SAFE_RANGES, PolicyError, with_changes
from closedloop.policy_store import Published, parse_assignments, publish_change
from console.db import open_database
from console.registry import require_enrolled
from console.schema import create_schema
from stream.events import PolicySnapshot
from stream.settings import KafkaSettings

#: ``publish(patient_id, assignments, actor, reason)``: the audited write (the CLI's function).
Publish = Callable[[str, list[str], str, str], Awaitable[Published]]

#: The form's fields: every policy key, in the order of the wire type.
FIELDS: tuple[str, ...] = tuple(PolicySnapshot.__struct_fields__)


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    value: str
    #: ``"[low, high]"`` for a key with a safe range, else empty.
    safe_range: str


def as_text(value: Any) -> str:
    """A policy value as the form shows it and ``parse_assignments`` reads it back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(part) for part in value)
    return str(value)


def form_fields(policy: PolicySnapshot) -> list[FormField]:
    """The form for ``policy``: each key's current value and its safe range."""
    values = msgspec.structs.asdict(policy)
    fields = []
    for name in FIELDS:
        low_high = SAFE_RANGES.get(name)
        shown = "" if low_high is None else f"[{low_high[0]:g}, {low_high[1]:g}]"
        fields.append(FormField(name, as_text(values[name]), shown))
    return fields


@dataclass(frozen=True, slots=True)
class Proposal:
    """A form that passed the checks: the keys it changes and the policy it makes."""

    assignments: list[str]
    policy: PolicySnapshot


def proposal(current: PolicySnapshot, form: Mapping[str, str]) -> Proposal:
    """The change a submitted form asks for, checked as the CLI checks ``vagus policy set``.

    Only the policy keys of the form are read; a key whose value reads back as the current one
    is no change. Raises :class:`PolicyError` with the CLI's message; a form that changes
    nothing is refused as the CLI refuses it.
    """
    submitted = [f"{name}={form[name]}" for name in FIELDS if name in form]
    typed = parse_assignments(submitted)
    before = msgspec.structs.asdict(current)
    changed = {name: value for name, value in typed.items() if value != _comparable(before[name])}
    if not changed:
        raise PolicyError("the change leaves the policy as it is")
    proposed = with_changes(current, changed)
    return Proposal([f"{name}={form[name]}" for name in FIELDS if name in changed], proposed)


def _comparable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def kafka_publisher(settings: KafkaSettings, default: PolicySnapshot) -> Publish:
    """The CLI's audited publish on ``settings``' policy topic, as a :data:`Publish`."""

    async def publish(
        patient_id: str, assignments: list[str], actor: str, reason: str
    ) -> Published:
        return await publish_change(
            settings,
            patient_id=patient_id,
            assignments=assignments,
            actor=actor,
            reason=reason,
            default=default,
        )

    return publish


async def publish_tuning(
    database: str,
    publish: Publish,
    *,
    patient_id: str,
    assignments: list[str],
    actor: str,
    reason: str,
) -> Published:
    """Publish through ``publish`` once the console's registry holds ``patient_id``.

    Raises ``NotEnrolledError`` (a :class:`PolicyError`) for a patient not enrolled, and the
    audited path's own PolicyError for an unsafe value, an actor or reason that is not plain
    text, or a change that leaves the policy as it is.
    """
    with open_database(database) as db:
        create_schema(db)
        require_enrolled(db, patient_id)
    return await publish(patient_id, assignments, actor, reason)
