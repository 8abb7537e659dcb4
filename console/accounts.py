"""People who use the console: accounts with argon2 password hashes, roles, and which patients
each clinician looks after.

Roles: ``clinician`` sees (and may tune) only the patients assigned to them; ``engineer`` sees
every patient's pages (diagnostics) and tunes nothing; ``admin`` manages accounts, assignments
and enrolment. Every change is written to ``account_audit`` with the acting account's name.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from console.db import Database
from stream.ids import PATIENT_ID_PATTERN

if TYPE_CHECKING:  # argon2 is the console's (extra), loaded when a password is first handled
    from argon2 import PasswordHasher

ROLES = ("clinician", "engineer", "admin")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 12


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2id with the library's defaults; imported here, not with the module: a gateway
    installs no console extra, yet its CLI imports this package (and a hash costs a second)."""
    from argon2 import PasswordHasher  # noqa: PLC0415

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so a wrong name costs the same time as a wrong
    password."""
    return _hasher().hash("not a password of anyone")


class AccountError(ValueError):
    """A name, role or password the console refuses (the message says why)."""


@dataclass(frozen=True, slots=True)
class Account:
    """The logged-in person, as ``request.scope["account"]`` holds it."""

    name: str
    role: str
    patients: frozenset[str] = field(default_factory=frozenset)
    disabled: bool = False


def account_tables(db: Database) -> list[str]:
    """The DDL of the account tables (``console.schema`` runs it with the rest)."""
    big, text, auto_id = db.dialect.big_int, db.dialect.text, db.dialect.auto_id
    return [
        f"""CREATE TABLE IF NOT EXISTS accounts (
            name {text} PRIMARY KEY,
            role {text} NOT NULL,
            password_hash {text} NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_ns {big} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS assignments (
            account {text} NOT NULL REFERENCES accounts (name),
            patient_id {text} NOT NULL,
            PRIMARY KEY (account, patient_id))""",
        f"""CREATE TABLE IF NOT EXISTS web_sessions (
            token_hash {text} PRIMARY KEY,
            account {text} NOT NULL REFERENCES accounts (name),
            csrf {text} NOT NULL,
            created_ns {big} NOT NULL,
            seen_ns {big} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS login_failures (
            id {auto_id},
            subject {text} NOT NULL,
            time_ns {big} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS login_failures_subject ON login_failures (subject, time_ns)",
        f"""CREATE TABLE IF NOT EXISTS account_audit (
            id {auto_id},
            time_ns {big} NOT NULL,
            actor {text} NOT NULL,
            action {text} NOT NULL,
            subject {text} NOT NULL)""",
    ]


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise AccountError(
            f"{name!r} is not an account name (letters, digits and . _ @ -, at most 64)"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"{role!r} is not a role: {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def add_account(
    db: Database, name: str, role: str, password: str, *, actor: str, now_ns: int
) -> None:
    """Create an account; refuse a name already taken."""
    check_name(name)
    check_role(role)
    hashed = _hasher().hash(check_password(password))
    with db.transaction():
        if find_account(db, name) is not None:
            raise AccountError(f"an account named {name} exists already")
        db.execute(
            "INSERT INTO accounts (name, role, password_hash, disabled, created_ns)"
            " VALUES (?, ?, ?, 0, ?)",
            (name, role, hashed, now_ns),
        )
        audit(db, actor, f"add account ({role})", name, now_ns)


def set_role(db: Database, name: str, role: str, *, actor: str, now_ns: int) -> None:
    check_role(role)
    with db.transaction():
        _must_exist(db, name)
        db.execute("UPDATE accounts SET role = ? WHERE name = ?", (role, name))
        audit(db, actor, f"set role {role}", name, now_ns)


def set_disabled(db: Database, name: str, disabled: bool, *, actor: str, now_ns: int) -> None:
    """Disable (its sessions end at once) or enable an account."""
    with db.transaction():
        _must_exist(db, name)
        db.execute("UPDATE accounts SET disabled = ? WHERE name = ?", (int(disabled), name))
        if disabled:
            db.execute("DELETE FROM web_sessions WHERE account = ?", (name,))
        audit(db, actor, "disable" if disabled else "enable", name, now_ns)


def assign(
    db: Database, name: str, patient_id: str, assigned: bool, *, actor: str, now_ns: int
) -> None:
    """Assign ``patient_id`` to the clinician ``name`` (or take the assignment away)."""
    if not re.fullmatch(PATIENT_ID_PATTERN, patient_id):
        raise AccountError(f"{patient_id!r} is not a patient pseudonym")
    with db.transaction():
        account = _must_exist(db, name)
        if account.role != "clinician":
            raise AccountError(f"{name} is an {account.role}; patients are assigned to clinicians")
        if assigned:
            db.execute(
                "INSERT INTO assignments (account, patient_id) VALUES (?, ?)"
                " ON CONFLICT (account, patient_id) DO NOTHING",
                (name, patient_id),
            )
        else:
            db.execute(
                "DELETE FROM assignments WHERE account = ? AND patient_id = ?", (name, patient_id)
            )
        audit(db, actor, f"{'assign' if assigned else 'unassign'} {patient_id}", name, now_ns)


def set_password(db: Database, name: str, password: str, *, actor: str, now_ns: int) -> None:
    """Replace ``name``'s password hash (the rule of :func:`add_account`); the audit entry
    names the change, never the password. Sessions are the caller's to end
    (``console.account_pages`` ends them all and re-issues the one the change was made in)."""
    hashed = _hasher().hash(check_password(password))
    with db.transaction():
        _must_exist(db, name)
        db.execute("UPDATE accounts SET password_hash = ? WHERE name = ?", (hashed, name))
        audit(db, actor, "change password", name, now_ns)


def reset_password(db: Database, name: str, password: str, *, actor: str, now_ns: int) -> None:
    """An administrator's reset for a forgotten password: the new hash (the rule of
    :func:`add_account`), every session of the account ended and its failed-login lock
    lifted, in one transaction; audited as a reset, never with the password."""
    hashed = _hasher().hash(check_password(password))
    with db.transaction():
        _must_exist(db, name)
        db.execute("UPDATE accounts SET password_hash = ? WHERE name = ?", (hashed, name))
        db.execute("DELETE FROM web_sessions WHERE account = ?", (name,))
        db.execute("DELETE FROM login_failures WHERE subject = ?", (f"account:{name}",))
        audit(db, actor, "reset password", name, now_ns)


def find_account(db: Database, name: str) -> Account | None:
    rows = db.query("SELECT role, disabled FROM accounts WHERE name = ?", (name,))
    if not rows:
        return None
    patients = db.query("SELECT patient_id FROM assignments WHERE account = ?", (name,))
    role, disabled = rows[0]
    return Account(str(name), str(role), frozenset(str(p) for (p,) in patients), bool(disabled))


def accounts(db: Database) -> list[Account]:
    names = db.query("SELECT name FROM accounts ORDER BY name")
    return [a for (n,) in names if (a := find_account(db, str(n))) is not None]


def verify_password(db: Database, name: str, password: str) -> Account | None:
    """The enabled account whose password this is, or ``None`` (same work either way)."""
    rows = db.query("SELECT password_hash FROM accounts WHERE name = ?", (name,))
    from argon2.exceptions import InvalidHashError, VerificationError  # noqa: PLC0415

    stored = str(rows[0][0]) if rows else _dummy_hash()
    try:
        _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if not rows:
        return None
    if _hasher().check_needs_rehash(stored):
        with db.transaction():
            db.execute(
                "UPDATE accounts SET password_hash = ? WHERE name = ?",
                (_hasher().hash(password), name),
            )
    account = find_account(db, name)
    return None if account is None or account.disabled else account


def audit(db: Database, actor: str, action: str, subject: str, now_ns: int) -> None:
    db.execute(
        "INSERT INTO account_audit (time_ns, actor, action, subject) VALUES (?, ?, ?, ?)",
        (now_ns, actor, action, subject),
    )


def audit_log(
    db: Database, limit: int = 50, *, actions: tuple[str, ...] = ()
) -> list[tuple[int, str, str, str]]:
    """The latest entries, newest first; only those whose action is in ``actions`` if given."""
    where = f" WHERE action IN ({', '.join('?' * len(actions))})" if actions else ""
    rows = db.query(
        f"SELECT time_ns, actor, action, subject FROM account_audit{where}"  # noqa: S608 - only ?s
        " ORDER BY id DESC LIMIT ?",
        (*actions, limit),
    )
    return [(int(t), str(a), str(x), str(s)) for t, a, x, s in rows]


def _must_exist(db: Database, name: str) -> Account:
    found = find_account(db, name)
    if found is None:
        raise AccountError(f"there is no account named {name}")
    return found
