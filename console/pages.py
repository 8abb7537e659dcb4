"""The data behind each page: patient list, a patient's timeline, one decision's "why".

Kept apart from the routes (console.web) so each page's content is a function of the database
and the time range, testable without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from console import queries, spans
from console.db import Database
from console.effect import Effect, effect
from console.holds import DESCRIPTIONS
from console.policies import policy_at, policy_log, threshold_steps
from console.randomised_effect import Comparison, comparison
from console.svg import Band, Panel, render_timeline, utc
from stream.events import PolicySnapshot

HOUR_NS = 3600 * 10**9
DEFAULT_RANGE_NS = 6 * HOUR_NS
#: Timeline panels: (metric, title, unit, fixed range)
METRICS = (
    ("heart_rate_bpm", "Heart rate", "bpm", None),
    ("rmssd_ms", "RMSSD", "ms", None),
    ("scr_rate_per_min", "SCR rate", "per min", None),
    ("stress_score", "Stress probability", "", (0.0, 1.0)),
)
#: The policy keys the "why" page shows: the limits that can hold a session back.
LIMIT_KEYS = (
    "score_threshold",
    "cooldown_s",
    "max_sessions_per_day",
    "quiet_hours_start",
    "quiet_hours_end",
    "timezone",
    "allow_during_sleep",
    "signal_quality_max_age_s",
)


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_ns: int
    end_ns: int


def default_range(db: Database, patient_id: str) -> TimeRange | None:
    """The last six hours of the patient's data (a replay's data is not near the clock)."""
    span = queries.data_span(db, patient_id)
    if span is None:
        return None
    first, last = span
    return TimeRange(max(first, last - DEFAULT_RANGE_NS), max(last, first + 1))


def session_label(session: queries.Session) -> str:
    return f"{session.modality} · {session.status or 'requested'}"


def timeline(db: Database, patient_id: str, window: TimeRange, default: PolicySnapshot) -> Markup:
    """The patient's timeline over ``window`` as inline SVG."""
    start, end = window.start_ns, window.end_ns
    log = policy_log(db, patient_id, default)
    marks = [
        (
            d.time_ns,
            d.score if d.score is not None else 0.0,
            f"/decisions/{d.event_id}",
            f"{utc(d.time_ns)} {d.action}: {d.hold_reason or 'session started'}",
        )
        for d in queries.decisions(db, patient_id, start, end)
    ]
    panels = []
    for metric, title, unit, fixed in METRICS:
        points = queries.series(db, patient_id, metric, start, end)
        if metric == "stress_score":
            steps = threshold_steps(log, default, start)
            panels.append(Panel(title, unit, points, fixed, [("policy threshold", steps)], marks))
        else:
            panels.append(Panel(title, unit, points, fixed))
    bands = [Band(a, b, "asleep", "sleep") for a, b in spans.sleep(db, patient_id, start, end)]
    bands += [
        Band(a, b, "stress episode", "episode")
        for a, b in spans.episodes(db, patient_id, start, end)
    ]
    bands += [
        Band(s.start_ns or start, _session_end(s), session_label(s))
        for s in queries.sessions(db, patient_id, start - DEFAULT_RANGE_NS, end)
        if s.start_ns is not None
    ]
    return Markup(render_timeline(panels, bands, start, end))  # noqa: S704 - escaped in svg


#: The response rows of a session: (label, metric key in the evaluation).
RESPONSE_METRICS = (
    ("RMSSD ms", "rmssd_ms"),
    ("heart rate bpm", "heart_rate_bpm"),
    ("stress", "stress_score"),
)


def response(session: queries.Session) -> list[tuple[str, list[str]]]:
    """Median before / during / after and the change, per metric (the session evaluation)."""
    metrics = (session.evaluation or {}).get("metrics")
    if not isinstance(metrics, dict):
        return []
    rows = []
    for label, key in RESPONSE_METRICS:
        cells = [metrics.get(f"{key}_{span}") for span in ("before", "during", "after", "change")]
        if any(isinstance(c, int | float) for c in cells):
            rows.append((label, [f"{c:.3g}" if isinstance(c, int | float) else "—" for c in cells]))
    return rows


def effects(db: Database, patient_id: str) -> list[Effect]:
    """Per modality and metric, the mean change over all the patient's evaluated sessions."""
    changes: dict[tuple[str, str], list[float]] = {}
    for session in queries.sessions(db, patient_id):
        metrics = (session.evaluation or {}).get("metrics")
        if not isinstance(metrics, dict):
            continue
        for label, key in RESPONSE_METRICS:
            value = metrics.get(f"{key}_change")
            if isinstance(value, int | float):
                changes.setdefault((session.modality, label), []).append(float(value))
    found = [effect(modality, label, values) for (modality, label), values in changes.items()]
    return sorted((e for e in found if e is not None), key=lambda e: (e.modality, e.metric))


def randomised(db: Database, patient_id: str, default: PolicySnapshot) -> Comparison:
    """The micro-randomised estimate of a session's effect on the same metrics as above."""
    return comparison(db, patient_id, default, RESPONSE_METRICS)


def _session_end(session: queries.Session) -> int:
    start = session.start_ns or 0
    if session.ended_ns is not None:
        return session.ended_ns
    return start + int((session.duration_s or 0.0) * 1e9)


def why(db: Database, decision: queries.Decision, default: PolicySnapshot) -> dict[str, Any]:
    """Everything the "why" page says about one decision."""
    policy = policy_at(
        policy_log(db, decision.patient_id, default), default, decision.policy_version
    )
    trigger = queries.event_body(db, decision.trigger_event_id) or {}
    components = trigger.get("components")
    limit = decision.hold_limit
    return {
        "decision": decision,
        "policy_version": decision.policy_version,
        "policy_limits": {k: policy.get(k) for k in LIMIT_KEYS if k in policy},
        "limit": limit,
        "limit_description": DESCRIPTIONS.get(limit or "", "") if limit else "",
        "trigger_kind": trigger.get("type", "not received"),
        "values": components if isinstance(components, dict) else {},
        "session": next(
            (
                s
                for s in queries.sessions(db, decision.patient_id)
                if s.command_id == decision.command_id
            ),
            None,
        ),
    }
