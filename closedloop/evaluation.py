"""Did it help? Each session's physiological response, and a running summary per modality.

Spans, on event time (documented in docs/pipeline.md):

* before: feature windows ending in the 5 minutes before the session started;
* during: windows lying wholly inside the session;
* after:  windows ending between 1 and 6 minutes after the session ended (the first minute is
  skipped: a 60-s window ending then still holds session data).

Each span reports the median of heart rate, RMSSD, SCR rate and stress score. A session is
evaluated at the first window past the "after" span once a stress score event past it has
arrived too: scores travel on another topic, so a window can be read before the scores of its
own time (a worker catching up on a backlog can read many minutes of windows first), and an
evaluation on windows alone could miss the after span's scores. One patient's scores arrive in
order, so a score event past the span means all of the span's are in; every event counts, the
ones without a value (calibrating, refused) too, since the gateway sends one for every window.
Where no score event has ever come for the patient (scoring off), windows SCORE_GRACE_S past
the span decide alone; where they came but stopped (a stalled stream), windows SCORE_WAIT_S past
it do, so the session is still evaluated before it would be forgotten. The result is final
when sent.

The evaluator's whole state (recent windows and scores, open sessions, running summaries) goes
into the patient's snapshot (:meth:`SessionEvaluator.saved`), so a session running across a
worker restart is still evaluated, from the same windows.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

import msgspec

from stream.events import (
    FeatureWindow,
    InterventionOutcome,
    Modality,
    OutcomeStatus,
    StressScore,
)

NS = 1_000_000_000
BEFORE_S = 300.0
AFTER_SKIP_S = 60.0
AFTER_S = 360.0
#: how far windows may run past the "after" span before a session is evaluated without a score
#: past it, for a patient of whom no score event has come at all (hops are 10 s: six windows)
SCORE_GRACE_S = 60.0
#: the same for a patient whose score events came before but do not come past the span: long
#: enough for a worker to catch up on a backlog, well within HISTORY_S
SCORE_WAIT_S = 1800.0
#: Never keep more than this (a session that never ends must not grow the state for ever).
HISTORY_S = 2 * 3600.0
#: Without an open session, keep this much: "before" plus time for a late "started" outcome.
IDLE_HISTORY_S = 600.0
METRICS = ("heart_rate_bpm", "rmssd_ms", "scr_rate_per_min", "stress_score")
WINDOW_METRICS = METRICS[:-1]


@dataclass
class _Session:
    command_id: str
    modality: Modality
    start_ns: int
    end_ns: int | None = None
    outcome: OutcomeStatus = "started"


@dataclass(frozen=True, slots=True)
class Evaluation:
    command_id: str
    modality: Modality
    outcome: OutcomeStatus
    start_ns: int
    end_ns: int
    metrics: dict[str, float]


@dataclass
class _Running:
    sessions: int = 0
    rmssd_change_sum: float = 0.0
    score_change_sum: float = 0.0
    rmssd_changes: int = 0
    score_changes: int = 0

    def summary(self) -> dict[str, float]:
        result = {"sessions": float(self.sessions)}
        if self.rmssd_changes:
            result["mean_rmssd_change_ms"] = self.rmssd_change_sum / self.rmssd_changes
        if self.score_changes:
            result["mean_stress_score_change"] = self.score_change_sum / self.score_changes
        return result


class EvaluatorSnapshot(msgspec.Struct, kw_only=True):
    """A :class:`SessionEvaluator` as stored in the patient's snapshot."""

    #: [window end, heart rate, RMSSD, SCR rate] (null where the window had none): compact,
    #: because the snapshot is written after every window.
    windows: list[tuple[int, float | None, float | None, float | None]] = msgspec.field(
        default_factory=list
    )
    scores: list[tuple[int, float]] = msgspec.field(default_factory=list)
    #: the latest score event's window end, valued or not (None: no score event yet)
    score_events_until: int | None = None
    #: command id -> [modality, start_ns, end_ns or None, outcome]
    sessions: list[tuple[str, Modality, int, int | None, OutcomeStatus]] = msgspec.field(
        default_factory=list
    )
    #: modality -> [sessions, rmssd sum, score sum, rmssd count, score count]
    effectiveness: dict[str, tuple[int, float, float, int, int]] = msgspec.field(
        default_factory=dict
    )


@dataclass
class SessionEvaluator:
    """One patient's recent windows, open sessions and per-modality effectiveness."""

    _windows: deque[tuple[int, dict[str, float]]] = field(default_factory=deque)
    _scores: deque[tuple[int, float]] = field(default_factory=deque)
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _effectiveness: dict[str, _Running] = field(default_factory=dict)
    #: the latest score event's window end, valued or not: how far the score stream has come
    _score_events_until: int | None = None

    def on_score(self, score: StressScore) -> bool:
        """Scores travel on another topic than windows, so they are joined by time, not order.

        Returns whether the score was kept (scores without a value are not: they only move
        how far the score stream has come, which a replay after a restart restores).
        """
        until = self._score_events_until
        end = score.window_end_ns
        self._score_events_until = end if until is None else max(until, end)
        if score.score is None:
            return False
        self._scores.append((score.window_end_ns, score.score))
        self._forget_before(score.window_end_ns)
        return True

    def on_outcome(self, outcome: InterventionOutcome) -> bool:
        """Open or close a session; returns whether anything changed."""
        if outcome.status == "started":
            self._sessions[outcome.command_id] = _Session(
                outcome.command_id, outcome.modality, outcome.gateway_time_ns
            )
            return True
        session = self._sessions.get(outcome.command_id)
        if session is None or outcome.status not in {"completed", "aborted", "failed"}:
            return False
        session.end_ns = outcome.gateway_time_ns
        session.outcome = outcome.status
        return True

    def on_window(self, window: FeatureWindow) -> list[Evaluation]:
        """Record a window; return the sessions whose "after" span it completes."""
        values = {
            name: float(value)
            for name in WINDOW_METRICS
            if (value := getattr(window.features, name)) is not None
        }
        end = window.window_end_ns
        self._windows.append((end, values))
        self._forget_before(end)
        done = [
            s
            for s in self._sessions.values()
            if s.end_ns is not None and self._after_span_complete(s.end_ns + AFTER_S * NS, end)
        ]
        return [self._evaluate(session, window) for session in done]

    def _after_span_complete(self, after_end: float, window_end: int) -> bool:
        """Whether windows and scores up to ``after_end`` are all in (module docstring)."""
        if window_end <= after_end:
            return False
        until = self._score_events_until
        if until is None:
            return window_end > after_end + SCORE_GRACE_S * NS
        return until > after_end or window_end > after_end + SCORE_WAIT_S * NS

    def _forget_before(self, now_ns: int) -> None:
        """Drop what no session can still need, so the saved state stays small."""
        for stale in [s for s in self._sessions.values() if s.start_ns < now_ns - HISTORY_S * NS]:
            del self._sessions[stale.command_id]  # never ended: cannot be evaluated any more
        keep_from = now_ns - int(IDLE_HISTORY_S * NS)
        for session in self._sessions.values():
            keep_from = min(keep_from, session.start_ns - int(BEFORE_S * NS))
        keep_from = max(keep_from, now_ns - int(HISTORY_S * NS))
        for history in (self._windows, self._scores):
            while history and history[0][0] < keep_from:
                history.popleft()

    def saved(self) -> EvaluatorSnapshot:
        """Everything needed to carry on after a restart."""
        return EvaluatorSnapshot(
            windows=[
                (t, v.get("heart_rate_bpm"), v.get("rmssd_ms"), v.get("scr_rate_per_min"))
                for t, v in self._windows
            ],
            scores=list(self._scores),
            score_events_until=self._score_events_until,
            sessions=[
                (s.command_id, s.modality, s.start_ns, s.end_ns, s.outcome)
                for s in self._sessions.values()
            ],
            effectiveness={
                m: (
                    r.sessions,
                    r.rmssd_change_sum,
                    r.score_change_sum,
                    r.rmssd_changes,
                    r.score_changes,
                )
                for m, r in self._effectiveness.items()
            },
        )

    @classmethod
    def restored(cls, saved: EvaluatorSnapshot) -> SessionEvaluator:
        return cls(
            _windows=deque(
                (t, {n: x for n, x in zip(WINDOW_METRICS, values, strict=True) if x is not None})
                for t, *values in saved.windows
            ),
            _scores=deque(saved.scores),
            _sessions={
                command_id: _Session(command_id, modality, start, end, outcome)
                for command_id, modality, start, end, outcome in saved.sessions
            },
            _effectiveness={m: _Running(*values) for m, values in saved.effectiveness.items()},
            _score_events_until=saved.score_events_until,
        )

    def _evaluate(self, session: _Session, latest: FeatureWindow) -> Evaluation:
        del self._sessions[session.command_id]
        assert session.end_ns is not None
        start, stop = session.start_ns, session.end_ns
        length = latest.window_end_ns - latest.window_start_ns
        bounds = {
            "before": (start - int(BEFORE_S * NS), start),
            "during": (start + length, stop),
            "after": (stop + int(AFTER_SKIP_S * NS), stop + int(AFTER_S * NS)),
        }
        metrics: dict[str, float] = {}
        for span, (low, high) in bounds.items():
            rows = [v for t, v in self._windows if low <= t <= high]
            scores = [score for t, score in self._scores if low <= t <= high]
            metrics[f"windows_{span}"] = float(len(rows))
            for name in WINDOW_METRICS:
                observed = [row[name] for row in rows if name in row]
                if observed:
                    metrics[f"{name}_{span}"] = statistics.median(observed)
            if scores:
                metrics[f"stress_score_{span}"] = statistics.median(scores)
        for name in METRICS:
            before, after = metrics.get(f"{name}_before"), metrics.get(f"{name}_after")
            if before is not None and after is not None:
                metrics[f"{name}_change"] = after - before
        running = self._effectiveness.setdefault(session.modality, _Running())
        running.sessions += 1
        if "rmssd_ms_change" in metrics:
            running.rmssd_change_sum += metrics["rmssd_ms_change"]
            running.rmssd_changes += 1
        if "stress_score_change" in metrics:
            running.score_change_sum += metrics["stress_score_change"]
            running.score_changes += 1
        return Evaluation(
            session.command_id, session.modality, session.outcome, start, stop, metrics
        )

    def effectiveness(self, modality: str) -> dict[str, float]:
        running = self._effectiveness.get(modality)
        return running.summary() if running else {}
