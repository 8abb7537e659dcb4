"""What the pages show, read from the console's tables into small typed records.

Every function takes an open :class:`~console.db.Database` and returns plain values; the pages
(console.web) only format them. Times stay in Unix nanoseconds here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from console.db import Database

#: Kinds of event that mean data arrived from the patient's sensors.
DATA_KINDS = (
    "feature_window",
    "stress_score",
    "signal_quality",
    "stream_started",
    "stream_gap",
    "sleep_wake_epoch",
)
NO_DATA_ALERT_NS = 2 * 3600 * 10**9
#: A device battery below this (percent) is an alert on the patient list.
LOW_BATTERY_PERCENT = 20
#: A spool whose oldest event has waited longer than this (seconds) is an alert.
BACKLOG_ALERT_S = 2 * 3600.0


@dataclass(frozen=True, slots=True)
class StreamQuality:
    stream: str
    kind: str
    coverage: float
    time_ns: int


@dataclass(frozen=True, slots=True)
class Session:
    command_id: str
    modality: str
    requested_ns: int | None
    started_ns: int | None
    ended_ns: int | None
    status: str | None
    duration_s: float | None
    policy_version: int | None
    evaluation: dict[str, object] | None

    @property
    def start_ns(self) -> int | None:
        return self.started_ns if self.started_ns is not None else self.requested_ns


@dataclass(frozen=True, slots=True)
class GatewayHealthRow:
    """The patient's newest ``gateway_health``: its weakest device battery and the backlog."""

    time_ns: int
    battery_percent: int | None
    battery_device_id: str | None
    spool_events: int
    spool_oldest_age_s: float | None
    broker_refusal: str | None


@dataclass(frozen=True, slots=True)
class PatientStatus:
    patient_id: str
    last_data_ns: int | None
    quality: list[StreamQuality]
    last_session: Session | None
    alerts: list[str]
    health: GatewayHealthRow | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    event_id: str
    patient_id: str
    time_ns: int
    episode_id: str
    trigger_event_id: str
    action: str
    hold_reason: str
    hold_limit: str | None
    score: float | None
    policy_version: int
    command_id: str | None


SESSION_COLUMNS = (
    "command_id, modality, requested_ns, started_ns, ended_ns, status, duration_s,"
    " policy_version, evaluation"
)
DECISION_COLUMNS = (
    "event_id, patient_id, time_ns, episode_id, trigger_event_id, action, hold_reason,"
    " hold_limit, score, policy_version, command_id"
)


def patient_ids(db: Database) -> list[str]:
    return [str(row[0]) for row in db.query("SELECT DISTINCT patient_id FROM events ORDER BY 1")]


def last_data_ns(db: Database, patient_id: str) -> int | None:
    marks = ", ".join("?" for _ in DATA_KINDS)
    rows = db.query(
        f"SELECT MAX(time_ns) FROM events WHERE patient_id = ? AND kind IN ({marks})",  # noqa: S608
        (patient_id, *DATA_KINDS),
    )
    return None if rows[0][0] is None else int(rows[0][0])


def latest_quality(db: Database, patient_id: str) -> list[StreamQuality]:
    """Each stream's newest signal-quality report."""
    rows = db.query(
        "SELECT q.stream, q.kind, q.coverage, q.time_ns FROM signal_quality q"
        " WHERE q.patient_id = ? AND q.time_ns = (SELECT MAX(r.time_ns) FROM signal_quality r"
        " WHERE r.patient_id = q.patient_id AND r.stream = q.stream) ORDER BY q.stream",
        (patient_id,),
    )
    return [StreamQuality(str(s), str(k), float(c), int(t)) for s, k, c, t in rows]


def sessions(
    db: Database, patient_id: str, start_ns: int | None = None, end_ns: int | None = None
) -> list[Session]:
    """The patient's sessions, oldest first; within [start_ns, end_ns] when given."""
    rows = [
        _session(row)
        for row in db.query(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE patient_id = ?",  # noqa: S608
            (patient_id,),
        )
    ]
    rows.sort(key=lambda s: s.start_ns or 0)
    return [
        s
        for s in rows
        if (start_ns is None or (s.start_ns or 0) >= start_ns)
        and (end_ns is None or (s.start_ns or 0) <= end_ns)
    ]


def _session(row: tuple[object, ...]) -> Session:
    command_id, modality, requested, started, ended, status, duration, version, evaluation = row
    return Session(
        command_id=str(command_id),
        modality=str(modality),
        requested_ns=_int(requested),
        started_ns=_int(started),
        ended_ns=_int(ended),
        status=None if status is None else str(status),
        duration_s=None if duration is None else float(str(duration)),
        policy_version=_int(version),
        evaluation=None if evaluation is None else json.loads(str(evaluation)),
    )


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def gateway_health(db: Database, patient_id: str) -> GatewayHealthRow | None:
    """The patient's newest gateway health report, or ``None`` before the first."""
    rows = db.query(
        "SELECT time_ns, battery_percent, battery_device_id, spool_events, spool_oldest_age_s,"
        " broker_refusal FROM gateway_health WHERE patient_id = ?",
        (patient_id,),
    )
    if not rows:
        return None
    time_ns, battery, device, events, age, refusal = rows[0]
    return GatewayHealthRow(
        time_ns=int(str(time_ns)),
        battery_percent=_int(battery),
        battery_device_id=None if device is None else str(device),
        spool_events=int(str(events)),
        spool_oldest_age_s=None if age is None else float(str(age)),
        broker_refusal=None if refusal is None else str(refusal),
    )


def health_alerts(health: GatewayHealthRow | None) -> list[str]:
    """A flat battery and a stuck backlog, in words, before the data stop."""
    if health is None:
        return []
    alerts = []
    if health.battery_percent is not None and health.battery_percent < LOW_BATTERY_PERCENT:
        alerts.append(f"battery low: {health.battery_percent} %")
    age = health.spool_oldest_age_s
    if age is not None and age > BACKLOG_ALERT_S:
        alerts.append(f"gateway backlog: events waiting {age / 3600:.1f} h")
    return alerts


def patient_status(db: Database, patient_id: str, now_ns: int) -> PatientStatus:
    last = last_data_ns(db, patient_id)
    quality = latest_quality(db, patient_id)
    history = sessions(db, patient_id)
    health = gateway_health(db, patient_id)
    alerts: list[str] = []
    if last is None or now_ns - last > NO_DATA_ALERT_NS:
        alerts.append("no data for 2 h")
    alerts.extend(f"{q.stream}: {q.kind}" for q in quality if q.kind != "ok")
    alerts.extend(health_alerts(health))
    last_session = history[-1] if history else None
    return PatientStatus(patient_id, last, quality, last_session, alerts, health)


def series(
    db: Database, patient_id: str, metric: str, start_ns: int, end_ns: int
) -> list[tuple[int, float]]:
    rows = db.query(
        "SELECT time_ns, value FROM measurements WHERE patient_id = ? AND metric = ?"
        " AND time_ns >= ? AND time_ns <= ? ORDER BY time_ns",
        (patient_id, metric, start_ns, end_ns),
    )
    return [(int(t), float(v)) for t, v in rows]


def data_span(db: Database, patient_id: str) -> tuple[int, int] | None:
    rows = db.query(
        "SELECT MIN(time_ns), MAX(time_ns) FROM measurements WHERE patient_id = ?", (patient_id,)
    )
    first, last = rows[0]
    return None if first is None else (int(first), int(last))


def decisions(db: Database, patient_id: str, start_ns: int, end_ns: int) -> list[Decision]:
    rows = db.query(
        f"SELECT {DECISION_COLUMNS} FROM decisions WHERE patient_id = ?"  # noqa: S608
        " AND time_ns >= ? AND time_ns <= ? ORDER BY time_ns",
        (patient_id, start_ns, end_ns),
    )
    return [_decision(row) for row in rows]


def decision(db: Database, event_id: str) -> Decision | None:
    rows = db.query(
        f"SELECT {DECISION_COLUMNS} FROM decisions WHERE event_id = ?",  # noqa: S608
        (event_id,),
    )
    return _decision(rows[0]) if rows else None


def _decision(row: tuple[object, ...]) -> Decision:
    eid, pid, time_ns, episode, trigger, action, reason, limit, score, version, command = row
    return Decision(
        event_id=str(eid),
        patient_id=str(pid),
        time_ns=int(str(time_ns)),
        episode_id=str(episode),
        trigger_event_id=str(trigger),
        action=str(action),
        hold_reason=str(reason),
        hold_limit=None if limit is None else str(limit),
        score=None if score is None else float(str(score)),
        policy_version=int(str(version)),
        command_id=None if command is None else str(command),
    )


def latest_scorer(db: Database, patient_id: str) -> str | None:
    """The scorer (``method``) of the patient's newest stress score; None without one."""
    rows = db.query(
        "SELECT body FROM events WHERE patient_id = ? AND kind = 'stress_score'"
        " ORDER BY time_ns DESC LIMIT 1",
        (patient_id,),
    )
    if not rows:
        return None
    method = json.loads(str(rows[0][0])).get("method")
    return method if isinstance(method, str) else None


def event_body(db: Database, event_id: str) -> dict[str, object] | None:
    """An event as it was received (its JSON), or ``None`` when the console has not seen it."""
    rows = db.query("SELECT body FROM events WHERE event_id = ?", (event_id,))
    if not rows:
        return None
    body = json.loads(str(rows[0][0]))
    return body if isinstance(body, dict) else None


def randomisation_points(db: Database, patient_id: str) -> list[Decision]:
    """The decisions that started a session or were micro-randomised to none, oldest first:
    the candidates for the micro-randomised comparison (console.randomised_effect)."""
    rows = db.query(
        f"SELECT {DECISION_COLUMNS} FROM decisions WHERE patient_id = ?"  # noqa: S608
        " AND (action = 'start_session' OR hold_limit = 'micro_randomised') ORDER BY time_ns",
        (patient_id,),
    )
    return [_decision(row) for row in rows]


#: Spans per statement in measurements_in_spans (3 parameters each, far under SQLite's and
#: PostgreSQL's limits on a statement's parameters).
SPANS_PER_QUERY = 500


def measurements_in_spans(
    db: Database, patient_id: str, metrics: tuple[str, ...], spans: list[tuple[int, int]]
) -> list[list[tuple[str, int, float]]]:
    """Per span [start_ns, end_ns], its (metric, time, value) of ``metrics``, oldest first: one
    statement for up to SPANS_PER_QUERY spans (a row in two spans is in both lists)."""
    found: list[list[tuple[str, int, float]]] = [[] for _ in spans]
    marks = ", ".join("?" for _ in metrics)
    for first in range(0, len(spans), SPANS_PER_QUERY):
        chunk = spans[first : first + SPANS_PER_QUERY]
        values = ", ".join(
            "(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))" for _ in chunk
        )
        rows = db.query(
            "SELECT s.column1, m.metric, m.time_ns, m.value FROM measurements m"  # noqa: S608
            f" JOIN (VALUES {values}) AS s ON m.time_ns >= s.column2 AND m.time_ns <= s.column3"
            f" WHERE m.patient_id = ? AND m.metric IN ({marks}) ORDER BY m.time_ns",
            (
                *(x for k, (lo, hi) in enumerate(chunk, first) for x in (k, lo, hi)),
                patient_id,
                *metrics,
            ),
        )
        for k, metric, at_ns, value in rows:
            found[int(str(k))].append((str(metric), int(str(at_ns)), float(str(value))))
    return found


def measurements(
    db: Database, patient_id: str, metrics: tuple[str, ...], start_ns: int, end_ns: int
) -> list[tuple[str, int, float]]:
    """(metric, time, value) of ``metrics`` within [start_ns, end_ns], oldest first."""
    marks = ", ".join("?" for _ in metrics)
    rows = db.query(
        "SELECT metric, time_ns, value FROM measurements WHERE patient_id = ?"  # noqa: S608
        f" AND metric IN ({marks}) AND time_ns >= ? AND time_ns <= ? ORDER BY time_ns",
        (patient_id, *metrics, start_ns, end_ns),
    )
    return [(str(m), int(str(t)), float(str(v))) for m, t, v in rows]
