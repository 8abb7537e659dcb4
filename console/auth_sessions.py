"""Server-side login sessions and login throttling, in the console's database.

The cookie carries a random token; the database keeps only its SHA-256, so a copy of the
database does not hold live sessions. A session ends after ``IDLE_NS`` without a request or
``ABSOLUTE_NS`` after login, whichever comes first. Each session has its own CSRF token.

Throttling counts failed logins per account name and per client address over ``WINDOW_NS``;
at the limit, logins for that name (or from that address) are refused until the oldest counted
failure leaves the window, even with the right password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from console.accounts import Account, find_account
from console.db import Database

MINUTE_NS = 60 * 10**9
IDLE_NS = 30 * MINUTE_NS
ABSOLUTE_NS = 12 * 60 * MINUTE_NS
WINDOW_NS = 15 * MINUTE_NS
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
#: A seen-time is written at most this often (not on every request).
TOUCH_NS = 10**9


@dataclass(frozen=True, slots=True)
class LoginSession:
    token: str
    account: Account
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Database, account: Account, now_ns: int) -> LoginSession:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with db.transaction():
        db.execute(
            "DELETE FROM web_sessions WHERE seen_ns < ? OR created_ns < ?",
            (now_ns - IDLE_NS, now_ns - ABSOLUTE_NS),
        )
        db.execute(
            "INSERT INTO web_sessions (token_hash, account, csrf, created_ns, seen_ns)"
            " VALUES (?, ?, ?, ?, ?)",
            (_digest(token), account.name, csrf, now_ns, now_ns),
        )
    return LoginSession(token, account, csrf)


def find_session(db: Database, token: str, now_ns: int) -> LoginSession | None:
    """The live session of ``token`` (its account enabled), touched; ``None`` otherwise."""
    if not token or len(token) > 128:
        return None
    digest = _digest(token)
    rows = db.query(
        "SELECT account, csrf, created_ns, seen_ns FROM web_sessions WHERE token_hash = ?",
        (digest,),
    )
    if not rows:
        return None
    name, csrf, created_ns, seen_ns = rows[0]
    if now_ns - int(seen_ns) > IDLE_NS or now_ns - int(created_ns) > ABSOLUTE_NS:
        end_session(db, token)
        return None
    account = find_account(db, str(name))
    if account is None or account.disabled:
        end_session(db, token)
        return None
    if now_ns - int(seen_ns) > TOUCH_NS:
        with db.transaction():
            db.execute("UPDATE web_sessions SET seen_ns = ? WHERE token_hash = ?", (now_ns, digest))
    return LoginSession(token, account, str(csrf))


def end_session(db: Database, token: str) -> None:
    with db.transaction():
        db.execute("DELETE FROM web_sessions WHERE token_hash = ?", (_digest(token),))


def end_sessions_of(db: Database, name: str) -> int:
    """End every session of the account ``name`` (after a password change); how many."""
    with db.transaction():
        return db.execute("DELETE FROM web_sessions WHERE account = ?", (name,))


def csrf_matches(session: LoginSession, offered: str) -> bool:
    """Constant-time comparison of the form's token with the session's."""
    return secrets.compare_digest(session.csrf.encode(), offered.encode())


def _subjects(name: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
    return (
        (f"account:{name}", MAX_FAILURES_PER_ACCOUNT),
        (f"address:{address}", MAX_FAILURES_PER_ADDRESS),
    )


def locked_for_ns(db: Database, name: str, address: str, now_ns: int) -> int:
    """How long logins for ``name`` or from ``address`` stay refused (0: not locked)."""
    wait = 0
    for subject, limit in _subjects(name, address):
        rows = db.query(
            "SELECT time_ns FROM login_failures WHERE subject = ? AND time_ns > ?"
            " ORDER BY time_ns DESC LIMIT ?",
            (subject, now_ns - WINDOW_NS, limit),
        )
        if len(rows) >= limit:
            wait = max(wait, int(rows[-1][0]) + WINDOW_NS - now_ns)
    return wait


def record_failure(db: Database, name: str, address: str, now_ns: int) -> None:
    with db.transaction():
        db.execute("DELETE FROM login_failures WHERE time_ns < ?", (now_ns - WINDOW_NS,))
        for subject, _ in _subjects(name, address):
            db.execute(
                "INSERT INTO login_failures (subject, time_ns) VALUES (?, ?)", (subject, now_ns)
            )


def clear_failures(db: Database, name: str) -> None:
    """A successful login forgets the account's failures (not the address's)."""
    with db.transaction():
        db.execute("DELETE FROM login_failures WHERE subject = ?", (f"account:{name}",))
