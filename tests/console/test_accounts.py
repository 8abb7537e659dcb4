"""Accounts, login sessions and throttling on both engines, against a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console import create_schema, open_database
from console.accounts import (
    AccountError,
    accounts,
    add_account,
    assign,
    find_account,
    set_disabled,
    verify_password,
)
from console.auth import may_see_patient, may_tune
from console.auth_sessions import (
    ABSOLUTE_NS,
    IDLE_NS,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    WINDOW_NS,
    csrf_matches,
    find_session,
    locked_for_ns,
    record_failure,
    start_session,
)
from console.db import Database

T = 1_800_000_000 * 10**9
PASSWORD = "a long enough password"
PATIENT = "p-0123456789ab"


@pytest.fixture
def db(database: str) -> Iterator[Database]:
    with open_database(database) as opened:
        create_schema(opened)
        create_schema(opened)  # idempotent, account tables included
        add_account(opened, "ann", "clinician", PASSWORD, actor="test", now_ns=T)
        yield opened


def test_passwords_are_argon2_hashes_and_verified(db: Database) -> None:
    (stored,) = db.query("SELECT password_hash FROM accounts WHERE name = 'ann'")[0]
    assert str(stored).startswith("$argon2id$") and PASSWORD not in str(stored)
    found = verify_password(db, "ann", PASSWORD)
    assert found is not None and found.role == "clinician"
    assert verify_password(db, "ann", PASSWORD + "x") is None
    assert verify_password(db, "nobody", PASSWORD) is None


@pytest.mark.parametrize(
    ("name", "role", "password", "says"),
    [
        ("ann", "admin", PASSWORD, "exists already"),
        ("bob", "nurse", PASSWORD, "not a role"),
        ("bob smith", "admin", PASSWORD, "not an account name"),
        ("bob", "admin", "short", "at least 12 characters"),
        ("bob", "admin", "", "at least 12 characters"),
    ],
)
def test_what_an_account_may_not_be(
    db: Database, name: str, role: str, password: str, says: str
) -> None:
    with pytest.raises(AccountError, match=says):
        add_account(db, name, role, password, actor="test", now_ns=T)


def test_patients_are_assigned_to_clinicians_only(db: Database) -> None:
    add_account(db, "eve", "engineer", PASSWORD, actor="test", now_ns=T)
    with pytest.raises(AccountError, match="assigned to clinicians"):
        assign(db, "eve", PATIENT, True, actor="test", now_ns=T)
    with pytest.raises(AccountError, match="not a patient pseudonym"):
        assign(db, "ann", "alice", True, actor="test", now_ns=T)
    assign(db, "ann", PATIENT, True, actor="admin", now_ns=T)
    ann, eve = find_account(db, "ann"), find_account(db, "eve")
    assert ann is not None and eve is not None
    assert may_see_patient(ann, PATIENT) and may_tune(ann, PATIENT)
    assert not may_see_patient(ann, "p-ba9876543210")
    assert may_see_patient(eve, PATIENT) and not may_tune(eve, PATIENT)
    assign(db, "ann", PATIENT, False, actor="admin", now_ns=T)
    assert [a.patients for a in accounts(db) if a.name == "ann"] == [frozenset()]


def test_a_session_ends_when_idle_or_old(db: Database) -> None:
    ann = verify_password(db, "ann", PASSWORD)
    assert ann is not None
    idle = start_session(db, ann, T)
    assert find_session(db, idle.token, T + IDLE_NS - 1) is not None
    assert find_session(db, idle.token, T + 2 * IDLE_NS - 2) is not None  # kept alive by use
    assert find_session(db, idle.token, T + 3 * IDLE_NS) is None
    assert find_session(db, idle.token, T + 2 * IDLE_NS) is None  # and removed for good
    old = start_session(db, ann, T)
    now = T
    while now + IDLE_NS // 2 < T + ABSOLUTE_NS:
        now += IDLE_NS // 2
        assert find_session(db, old.token, now) is not None
    assert find_session(db, old.token, T + ABSOLUTE_NS + 1) is None


def test_a_session_is_worth_nothing_once_its_account_is_disabled(db: Database) -> None:
    ann = verify_password(db, "ann", PASSWORD)
    assert ann is not None
    session = start_session(db, ann, T)
    assert csrf_matches(session, session.csrf) and not csrf_matches(session, "x" + session.csrf)
    set_disabled(db, "ann", True, actor="admin", now_ns=T)
    assert find_session(db, session.token, T + 1) is None
    assert verify_password(db, "ann", PASSWORD) is None
    stored = db.query("SELECT token_hash FROM web_sessions")
    assert all(session.token not in str(row[0]) for row in stored)


def test_failures_lock_an_account_then_the_window_passes(db: Database) -> None:
    for i in range(MAX_FAILURES_PER_ACCOUNT - 1):
        record_failure(db, "ann", "10.0.0.1", T + i)
    assert locked_for_ns(db, "ann", "10.0.0.2", T + 10) == 0
    record_failure(db, "ann", "10.0.0.1", T + 10)
    assert locked_for_ns(db, "ann", "10.0.0.2", T + 11) == WINDOW_NS - 11  # from any address
    assert locked_for_ns(db, "bob", "10.0.0.2", T + 11) == 0
    assert locked_for_ns(db, "ann", "10.0.0.2", T + WINDOW_NS - 1) == 1  # till the oldest leaves
    assert locked_for_ns(db, "ann", "10.0.0.2", T + WINDOW_NS) == 0


def test_failures_from_one_address_lock_it_for_every_name(db: Database) -> None:
    for i in range(MAX_FAILURES_PER_ADDRESS):
        record_failure(db, f"name{i}", "10.0.0.9", T)
    assert locked_for_ns(db, "ann", "10.0.0.9", T + 1) > 0
    assert locked_for_ns(db, "ann", "10.0.0.1", T + 1) == 0
