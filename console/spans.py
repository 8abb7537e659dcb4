"""Spans of time drawn shaded on the timeline: stress episodes and sleep.

Sleep arrives as fixed epochs (``sleep_wake_epoch``); consecutive sleep epochs are merged into
one span, and a gap between epochs ends a span (missing data is never drawn as sleep).
"""

from __future__ import annotations

from console.db import Database

Span = tuple[int, int]


def episodes(db: Database, patient_id: str, start_ns: int, end_ns: int) -> list[Span]:
    """Stress episodes overlapping [start_ns, end_ns]; one still open ends at ``end_ns``."""
    rows = db.query(
        "SELECT started_ns, ended_ns FROM episodes WHERE patient_id = ?"
        " AND started_ns IS NOT NULL AND started_ns <= ? AND (ended_ns IS NULL OR ended_ns >= ?)"
        " ORDER BY started_ns",
        (patient_id, end_ns, start_ns),
    )
    return [(int(s), end_ns if e is None else int(e)) for s, e in rows]


def sleep(db: Database, patient_id: str, start_ns: int, end_ns: int) -> list[Span]:
    """Sleep within [start_ns, end_ns], consecutive sleep epochs merged."""
    rows = db.query(
        "SELECT start_ns, end_ns, state FROM sleep_epochs WHERE patient_id = ?"
        " AND end_ns >= ? AND start_ns <= ? ORDER BY start_ns",
        (patient_id, start_ns, end_ns),
    )
    return merge_sleep([(int(s), int(e), str(state)) for s, e, state in rows])


def merge_sleep(epochs: list[tuple[int, int, str]]) -> list[Span]:
    """Spans of consecutive ``sleep`` epochs (sorted by start); wake or a gap ends a span."""
    spans: list[Span] = []
    current: list[int] | None = None
    for start, end, state in epochs:
        if state != "sleep":
            current = None
            continue
        if current is not None and start <= current[1]:
            current[1] = max(current[1], end)
            spans[-1] = (current[0], current[1])
        else:
            current = [start, end]
            spans.append((start, end))
    return spans
