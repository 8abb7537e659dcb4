"""What a proposed policy would have done: the loop's own decision step re-run over stored data.

The patient's stored inputs to the loop (stress scores and episodes, signal quality, sleep, the
patient's "not now" and stop presses) are fed, in time order, through
``closedloop.decision.step`` twice: with the current policy and with the proposed one. Each
decision the two runs take differently is reported with the limit that held it.

What this replay cannot know, and so leaves out: how the patient would have answered a session
that did not happen (outcomes and evaluations are not fed, so the abort back-off and the
modality choice start fresh); each simulated session runs its full duration. A day of data before
the window is replayed first, so the daily cap and the cooldown are right at the window's start.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from closedloop.decision import DAY_NS, PatientLoopState, step
from console.db import Database
from console.holds import DESCRIPTIONS, hold_limit
from stream.codec import decode_event
from stream.events import AnyEvent, LoopDecision, PolicySnapshot

#: The stored event kinds the decision step reads (the loop's inputs, not its outputs).
INPUT_KINDS = (
    "stress_score",
    "stress_episode",
    "signal_quality",
    "sleep_wake_epoch",
    "patient_control",
)
PRODUCER_ID = "console-preview"
DEFAULT_DAYS = 7
MAX_DAYS = 31


@dataclass(frozen=True, slots=True)
class Replayed:
    """One decision of a replay: what it did and, when it held, why."""

    time_ns: int
    started: bool
    hold_reason: str
    score: float | None


@dataclass(frozen=True, slots=True)
class Change:
    """A moment the proposed policy decides differently from the current one."""

    time_ns: int
    day: str
    score: float | None
    #: ``"would start"`` (the proposal starts a session the current policy held back) or
    #: ``"would not start"``.
    change: str
    #: The limit that holds in the run that holds (console.holds names), and its sentence.
    limit: str
    reason: str


@dataclass(frozen=True, slots=True)
class DayCount:
    day: str
    current: int
    proposed: int


@dataclass(frozen=True, slots=True)
class Preview:
    start_ns: int
    end_ns: int
    decisions: int
    changes: list[Change]
    days: list[DayCount]
    #: The loop's stored decisions in the days, and how many of them the replay with the
    #: current policy takes the same way (start or hold): a check on the replay itself.
    stored: int = 0
    reproduced: int = 0

    @property
    def sessions_current(self) -> int:
        return sum(d.current for d in self.days)

    @property
    def sessions_proposed(self) -> int:
        return sum(d.proposed for d in self.days)


def loop_inputs(db: Database, patient_id: str, start_ns: int, end_ns: int) -> list[AnyEvent]:
    """The patient's stored loop inputs in ``[start_ns, end_ns]``, in time order."""
    rows = db.query(
        "SELECT body FROM events WHERE patient_id = ? AND time_ns >= ? AND time_ns <= ?"
        " AND kind IN (?, ?, ?, ?, ?) ORDER BY time_ns, topic, kafka_partition, kafka_offset",
        (patient_id, start_ns, end_ns, *INPUT_KINDS),
    )
    return [decode_event(str(body).encode()) for (body,) in rows]


def replay(events: list[AnyEvent], policy: PolicySnapshot, from_ns: int) -> dict[str, Replayed]:
    """Each decision the step takes at or after ``from_ns``, by its trigger event id."""
    state = PatientLoopState(policy=policy)
    found: dict[str, Replayed] = {}
    for event in events:
        decision: LoopDecision | None = step(state, event, producer_id=PRODUCER_ID).decision
        if decision is not None and decision.gateway_time_ns >= from_ns:
            found[decision.trigger_event_id] = Replayed(
                decision.gateway_time_ns,
                decision.action == "start_session",
                decision.hold_reason,
                decision.score,
            )
    return found


def utc_day(time_ns: int) -> str:
    return dt.datetime.fromtimestamp(time_ns / 1e9, tz=dt.UTC).date().isoformat()


def preview(
    db: Database,
    patient_id: str,
    current: PolicySnapshot,
    proposed: PolicySnapshot,
    *,
    end_ns: int,
    days: int = DEFAULT_DAYS,
) -> Preview:
    """Replay the last ``days`` days before ``end_ns`` under both policies and compare."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a preview covers 1 to {MAX_DAYS} days, not {days}")
    start_ns = end_ns - days * DAY_NS
    events = loop_inputs(db, patient_id, start_ns - DAY_NS, end_ns)
    before = replay(events, current, start_ns)
    after = replay(events, proposed, start_ns)
    changes = []
    counts: dict[str, list[int]] = {}
    for trigger in sorted(before.keys() | after.keys(), key=lambda t: _time(before, after, t)):
        old, new = before.get(trigger), after.get(trigger)
        for index, run in enumerate((old, new)):
            if run is not None and run.started:
                counts.setdefault(utc_day(run.time_ns), [0, 0])[index] += 1
        change = _change(old, new)
        if change is not None:
            changes.append(change)
    day_counts = [DayCount(day, c[0], c[1]) for day, c in sorted(counts.items())]
    stored = stored_decisions(db, patient_id, start_ns, end_ns)
    reproduced = sum(
        1
        for trigger, started in stored.items()
        if trigger in before and before[trigger].started == started
    )
    return Preview(
        start_ns,
        end_ns,
        len(before.keys() | after.keys()),
        changes,
        day_counts,
        stored=len(stored),
        reproduced=reproduced,
    )


def stored_decisions(db: Database, patient_id: str, start_ns: int, end_ns: int) -> dict[str, bool]:
    """Whether the loop started a session, by trigger event id, as it logged its decisions."""
    rows = db.query(
        "SELECT trigger_event_id, action FROM decisions WHERE patient_id = ?"
        " AND time_ns >= ? AND time_ns <= ?",
        (patient_id, start_ns, end_ns),
    )
    return {str(trigger): action == "start_session" for trigger, action in rows}


def _time(before: dict[str, Replayed], after: dict[str, Replayed], trigger: str) -> int:
    found = before.get(trigger) or after.get(trigger)
    assert found is not None
    return found.time_ns


def _change(old: Replayed | None, new: Replayed | None) -> Change | None:
    """How the proposal's decision differs from the current one's; ``None`` when it does not.

    A decision only one run takes (the other had no open episode there) counts as a hold in
    the other run.
    """
    started_old = old is not None and old.started
    started_new = new is not None and new.started
    if started_old == started_new:
        return None
    held = old if started_new else new
    shown = new or old
    assert shown is not None
    reason = held.hold_reason if held is not None else "no stress episode was open"
    limit = hold_limit(reason) or "other"
    return Change(
        time_ns=shown.time_ns,
        day=utc_day(shown.time_ns),
        score=shown.score,
        change="would start" if started_new else "would not start",
        limit=DESCRIPTIONS.get(limit, limit),
        reason=reason,
    )
