"""The console's patient enrolment registry: which pseudonyms a clinician may tune, since when,
enrolled by whom.

A policy change is refused for a patient not enrolled here (by the console's tuning page and, when
a console database is configured, by ``vagus policy set``), so a typo in a pseudonym cannot
create a policy for a patient nobody looks after. The table is created by
:func:`console.schema.create_schema` like every other console table.

From the CLI the enrolling actor is any plain name; from the console's admin page it is the
signed-in account (:func:`enrol_as`, :func:`unenrol_as`), checked against ``accounts`` and audited
in ``account_audit`` like every other account change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from closedloop.policy import PolicyError
from console.accounts import audit, find_account
from console.db import Database, Row, open_database, redacted
from stream.ids import PATIENT_ID_PATTERN

#: A name for the audit: letters, digits and ``. _ @ : -`` (``role:id`` fits), no spaces or
#: control characters, so it reads as one token in every listing.
ACTOR_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}")


class RegistryError(ValueError):
    """A pseudonym or an actor the registry refuses."""


class NotEnrolledError(PolicyError):
    """A policy change for a patient the console's registry does not hold."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    patient_id: str
    enrolled_by: str
    enrolled_ns: int


def registry_tables(big_int: str, text: str) -> list[str]:
    """The registry's table, in the column types of the database's engine."""
    return [
        f"""CREATE TABLE IF NOT EXISTS enrolled_patients (
            patient_id {text} PRIMARY KEY,
            enrolled_by {text} NOT NULL,
            enrolled_ns {big_int} NOT NULL)"""
    ]


def checked_patient(patient_id: str) -> str:
    if not re.fullmatch(PATIENT_ID_PATTERN, patient_id):
        raise RegistryError(
            f"{patient_id!r} is not a pseudonym: p- and 12 characters of 0-9 a-z"
            " (without i, l, o, u)"
        )
    return patient_id


def enrol(db: Database, patient_id: str, actor: str, now_ns: int) -> tuple[Enrolment, bool]:
    """Enrol ``patient_id``; the enrolment and whether it is new (an existing one is kept)."""
    checked_patient(patient_id)
    if not ACTOR_PATTERN.fullmatch(actor):
        raise RegistryError(
            f"actor {actor[:128]!r} must be a plain name: letters, digits or . _ @ : -,"
            " at most 128 characters"
        )
    with db.transaction():
        added = db.execute(
            "INSERT INTO enrolled_patients (patient_id, enrolled_by, enrolled_ns)"
            " VALUES (?, ?, ?) ON CONFLICT (patient_id) DO NOTHING",
            (patient_id, actor, now_ns),
        )
        found = enrolment(db, patient_id)
    assert found is not None
    return found, added == 1


def enrolment(db: Database, patient_id: str) -> Enrolment | None:
    rows = db.query(
        "SELECT patient_id, enrolled_by, enrolled_ns FROM enrolled_patients WHERE patient_id = ?",
        (patient_id,),
    )
    return _enrolment(rows[0]) if rows else None


def enrolled(db: Database) -> list[Enrolment]:
    """Every enrolled patient, by pseudonym."""
    rows = db.query(
        "SELECT patient_id, enrolled_by, enrolled_ns FROM enrolled_patients ORDER BY patient_id"
    )
    return [_enrolment(row) for row in rows]


def unenrol(db: Database, patient_id: str) -> bool:
    """Remove ``patient_id``; whether it was enrolled. Its policy history is left as it is."""
    checked_patient(patient_id)
    with db.transaction():
        return db.execute("DELETE FROM enrolled_patients WHERE patient_id = ?", (patient_id,)) == 1


def enrol_as(db: Database, patient_id: str, account: str, now_ns: int) -> tuple[Enrolment, bool]:
    """:func:`enrol` with an enabled console account as actor (never free text); a new
    enrolment is audited."""
    with db.transaction():
        _enabled_account(db, account)
        found, added = enrol(db, patient_id, account, now_ns)
        if added:
            audit(db, account, "enrol", patient_id, now_ns)
    return found, added


def unenrol_as(db: Database, patient_id: str, account: str, now_ns: int) -> bool:
    """:func:`unenrol` by an enabled console account; a removal is audited."""
    with db.transaction():
        _enabled_account(db, account)
        removed = unenrol(db, patient_id)
        if removed:
            audit(db, account, "unenrol", patient_id, now_ns)
    return removed


def _enabled_account(db: Database, name: str) -> None:
    found = find_account(db, name)
    if found is None or found.disabled:
        raise RegistryError(f"{name[:64]!r} is not an enabled console account")


def require_enrolled(db: Database, patient_id: str) -> Enrolment:
    """The patient's enrolment, or :class:`NotEnrolledError` naming the command that enrols."""
    try:
        found = enrolment(db, checked_patient(patient_id))
    except RegistryError as exc:
        raise NotEnrolledError(str(exc)) from exc
    if found is None:
        raise NotEnrolledError(
            f"{patient_id} is not enrolled in the console's registry ({redacted(db.url)});"
            f" an admin enrols them first, on the console's Enrolment page or with:"
            f" vagus console enrol {patient_id} --db {redacted(db.url)} --actor NAME"
        )
    return found


def require_enrolled_at(url: str, patient_id: str) -> Enrolment:
    """:func:`require_enrolled` on the console database at ``url`` (its tables made if new)."""
    from console.schema import create_schema  # noqa: PLC0415 - the schema imports this module

    with open_database(url) as db:
        create_schema(db)
        return require_enrolled(db, patient_id)


def _enrolment(row: Row) -> Enrolment:
    patient_id, by, at = row
    return Enrolment(str(patient_id), str(by), int(at))
