"""Storing records: idempotent by event id, broken ones kept, one transaction per batch."""

from __future__ import annotations

from typing import Any

import pytest

from console import Database, create_schema, open_database
from console.holds import hold_limit
from console.store import Record, store_batch, stored_offsets
from stream.events import AnyEvent
from tests.console.events import PATIENT, command, encoded, outcome, story


def _records(payloads: list[bytes], first: int = 0) -> list[Record]:
    return [Record(first + i, payload) for i, payload in enumerate(payloads)]


def _count(db: Database, table: str) -> int:
    return int(db.query(f"SELECT COUNT(*) FROM {table}")[0][0])  # noqa: S608


@pytest.fixture
def db(database: str) -> Any:
    with open_database(database) as opened:
        create_schema(opened)
        yield opened


def test_storing_twice_changes_nothing(db: Database) -> None:
    payloads = encoded(story())
    first = store_batch(db, "t.all", 0, _records(payloads))
    tables = {t: _count(db, t) for t in ("events", "measurements", "sessions", "decisions")}
    again = store_batch(db, "t.all", 0, _records(payloads))
    assert (first.stored, first.repeated, first.errors) == (len(payloads), 0, 0)
    assert (again.stored, again.repeated) == (0, len(payloads))
    assert {t: _count(db, t) for t in tables} == tables
    assert tables["events"] == len(payloads)
    assert tables["measurements"] == 40 * 3 + 40  # three features per window, one score each
    assert db.query("SELECT started_ns < ended_ns FROM episodes") == [(1,)]
    assert _count(db, "sleep_epochs") == 3
    assert stored_offsets(db) == {("t.all", 0): len(payloads)}


def test_the_same_event_on_another_offset_is_a_repeat(db: Database) -> None:
    payload = encoded(story()[:1])
    store_batch(db, "t.all", 0, _records(payload))
    counts = store_batch(db, "t.all", 0, _records(payload, first=1))
    assert (counts.stored, counts.repeated) == (0, 1)
    assert stored_offsets(db) == {("t.all", 0): 2}


def test_broken_records_are_kept_as_errors_and_never_stop_the_batch(db: Database) -> None:
    good = encoded(story()[:3])
    broken = [b"not json", b"", b'{"type":"stress_score"}', b"\x00\xff binary"]
    counts = store_batch(db, "t.all", 2, _records([good[0], *broken, *good[1:]]))
    assert (counts.stored, counts.errors) == (3, 4)
    rows = db.query("SELECT kafka_offset, error FROM ingest_errors ORDER BY kafka_offset")
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert all(r[1] for r in rows)
    again = store_batch(db, "t.all", 2, _records([good[0], *broken, *good[1:]]))
    assert again.errors == 4
    assert _count(db, "ingest_errors") == 4  # counted again, stored once
    assert stored_offsets(db) == {("t.all", 2): 7}


class _FailingAfter:
    """A connection that fails on its n-th statement, as a crash mid-batch would."""

    def __init__(self, inner: Any, statements: int) -> None:
        self._inner = inner
        self._left = statements

    def execute(self, sql: str, params: Any = ()) -> Any:
        self._left -= 1
        if self._left < 0:
            raise RuntimeError("crash")
        return self._inner.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_batch_that_fails_midway_leaves_neither_rows_nor_offset(db: Database) -> None:
    payloads = encoded(story())
    store_batch(db, "t.all", 0, _records(payloads[:10]))
    failing = Database(_FailingAfter(db._connection, 25), db.dialect, db.url)
    with pytest.raises(RuntimeError, match="crash"):
        store_batch(failing, "t.all", 0, _records(payloads[10:], first=10))
    assert _count(db, "events") == 10
    assert stored_offsets(db) == {("t.all", 0): 10}
    store_batch(db, "t.all", 0, _records(payloads[10:], first=10))  # the restart reads on
    assert _count(db, "events") == len(payloads)


def test_a_session_folds_from_its_events_in_any_order(db: Database) -> None:
    events: list[AnyEvent] = [outcome(5, "completed", 400), outcome(5, "started", 52), command(5)]
    store_batch(db, "t.all", 0, _records(encoded(events)))
    rows = db.query(
        "SELECT patient_id, status, requested_ns, started_ns, ended_ns, duration_s FROM sessions"
    )
    assert len(rows) == 1
    patient, status, requested, started, ended, duration = rows[0]
    assert (patient, status, duration) == (PATIENT, "completed", 300.0)
    assert requested < started < ended


@pytest.mark.parametrize(
    ("reason", "limit"),
    [
        ("", None),
        ("cooldown of 1800 s since the last session", "cooldown"),
        ("cooldown of 3600 s (backing off after aborted sessions)", "cooldown"),
        ("daily cap of 4 sessions reached", "daily_cap"),
        ("quiet hours", "quiet_hours"),
        ("patient asleep", "sleep"),
        ("poor_signal: ecg gap (5% coverage)", "poor_signal"),
        ("signal quality: motion", "poor_signal"),
        ("stale_signal: no signal-quality report yet (max age 310 s)", "stale_signal"),
        ("score 0.41 below threshold 0.70", "below_threshold"),
        ("this episode already had a session", "already_acted"),
        ("something new", "other"),
    ],
)
def test_hold_reasons_name_their_limit(reason: str, limit: str | None) -> None:
    assert hold_limit(reason) == limit
