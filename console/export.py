"""The timeline as CSV: one row per time, one column per measured quantity, UTC and ns."""

from __future__ import annotations

import csv
import io

from console import queries
from console.db import Database
from console.svg import utc

#: Columns after the two time columns, in the timeline's order.
METRICS = ("heart_rate_bpm", "rmssd_ms", "scr_rate_per_min", "stress_score")


def timeline_csv(db: Database, patient_id: str, start_ns: int, end_ns: int) -> str:
    """Every measurement of ``patient_id`` in [start_ns, end_ns]; an empty cell: not measured."""
    rows: dict[int, dict[str, float]] = {}
    for metric in METRICS:
        for time_ns, value in queries.series(db, patient_id, metric, start_ns, end_ns):
            rows.setdefault(time_ns, {})[metric] = value
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time_utc", "time_ns", *METRICS])
    for time_ns in sorted(rows):
        values = rows[time_ns]
        writer.writerow(
            [utc(time_ns), time_ns, *(repr(values[m]) if m in values else "" for m in METRICS)]
        )
    return out.getvalue()
