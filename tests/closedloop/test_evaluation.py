"""Session evaluation: the right windows in each span, changes, and the running summary."""

from __future__ import annotations

import msgspec
import pytest

from closedloop.evaluation import (
    AFTER_S,
    SCORE_GRACE_S,
    SCORE_WAIT_S,
    EvaluatorSnapshot,
    SessionEvaluator,
)
from stream.events import (
    Features,
    FeatureWindow,
    InterventionOutcome,
    OutcomeStatus,
    StressScore,
)
from stream.ids import new_event_id
from tests.helpers import PATIENT

S = 1_000_000_000
T0 = 1_773_151_200 * S


def _window(end_s: float, rmssd: float, hr: float) -> FeatureWindow:
    end = T0 + int(end_s * S)
    return FeatureWindow(
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=end,
        window_start_ns=end - 60 * S,
        window_end_ns=end,
        features=Features(rmssd_ms=rmssd, heart_rate_bpm=hr, beats=60),
        coverage={},
    )


def _outcome(at_s: float, status: OutcomeStatus, command_id: str) -> InterventionOutcome:
    return InterventionOutcome(
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=T0 + int(at_s * S),
        command_id=command_id,
        status=status,
        modality="paced_breathing",
    )


def _score(end_s: float, value: float | None) -> StressScore:
    return StressScore(
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=T0 + int(end_s * S),
        window_id=new_event_id(),
        window_end_ns=T0 + int(end_s * S),
        score=value,
        method="t",
        quality="ok" if value is not None else "calibrating",
    )


def test_spans_medians_and_changes() -> None:
    evaluator = SessionEvaluator()
    command = new_event_id()
    results = []
    for second in range(0, 1800, 10):
        # 20 ms RMSSD before the session (600-900 s), 30 during, 40 after.
        rmssd = 20.0 if second <= 600 else 30.0 if second <= 900 else 40.0
        if second == 600:
            evaluator.on_outcome(_outcome(600, "started", command))
        if second == 900:
            evaluator.on_outcome(_outcome(900, "completed", command))
        # Scores arrive on another topic and may come after their window.
        window = _window(second, rmssd, 80.0 - rmssd / 10)
        results += evaluator.on_window(window)
        evaluator.on_score(_score(second, 0.9 if second <= 600 else 0.3))
    (evaluation,) = results
    metrics = evaluation.metrics
    assert evaluation.outcome == "completed"
    assert metrics["windows_before"] == 31  # ends in [300 s, 600 s]
    assert metrics["windows_during"] == 25  # ends in [660 s, 900 s]: wholly inside
    assert metrics["windows_after"] == 31  # ends in [960 s, 1260 s]
    assert metrics["rmssd_ms_before"] == 20.0 and metrics["rmssd_ms_after"] == 40.0
    assert metrics["rmssd_ms_during"] == 30.0
    assert metrics["rmssd_ms_change"] == 20.0
    assert metrics["stress_score_change"] == pytest.approx(-0.6)
    summary = evaluator.effectiveness("paced_breathing")
    assert summary == {
        "sessions": 1.0,
        "mean_rmssd_change_ms": 20.0,
        "mean_stress_score_change": pytest.approx(-0.6),
    }


def test_nothing_is_evaluated_before_the_after_span_has_passed() -> None:
    evaluator = SessionEvaluator()
    command = new_event_id()
    evaluator.on_outcome(_outcome(0, "started", command))
    evaluator.on_outcome(_outcome(300, "aborted", command))
    assert evaluator.on_window(_window(660, 30, 70)) == []  # 360 s after the end: not yet
    assert evaluator.on_window(_window(670, 30, 70)) == []  # past it, but no score past it yet
    evaluator.on_score(_score(670, 0.3))
    (evaluation,) = evaluator.on_window(_window(680, 30, 70))
    assert evaluation.outcome == "aborted"
    assert evaluator.on_window(_window(690, 30, 70)) == []  # evaluated once


def test_the_after_spans_scores_count_even_when_its_windows_are_read_first() -> None:
    """Windows and scores travel on two topics: here every window comes before any score (a
    fetch can deliver them so), and the evaluation still has the after span's scores."""
    evaluator = SessionEvaluator()
    command = new_event_id()
    evaluator.on_outcome(_outcome(600, "started", command))
    evaluator.on_outcome(_outcome(900, "completed", command))
    early = [
        e for second in range(300, 1300, 10) for e in evaluator.on_window(_window(second, 30, 70))
    ]
    assert early == []  # no score past the after span yet, and within the grace
    for second in range(300, 1300, 10):
        evaluator.on_score(_score(second, 0.9 if second <= 600 else 0.3))
    (evaluation,) = evaluator.on_window(_window(1300, 30, 70))
    assert evaluation.metrics["stress_score_after"] == pytest.approx(0.3)
    assert evaluation.metrics["stress_score_change"] == pytest.approx(-0.6)


def test_without_scores_windows_past_the_grace_decide_alone() -> None:
    """Scoring off or still calibrating: no score ever comes, and the session is evaluated on
    windows once they run SCORE_GRACE_S past the after span."""
    evaluator = SessionEvaluator()
    command = new_event_id()
    evaluator.on_outcome(_outcome(0, "started", command))
    evaluator.on_outcome(_outcome(300, "completed", command))
    grace_end = 300 + AFTER_S + SCORE_GRACE_S
    assert all(
        evaluator.on_window(_window(t, 30, 70)) == [] for t in range(660, int(grace_end) + 1, 10)
    )
    (evaluation,) = evaluator.on_window(_window(grace_end + 10, 30, 70))
    assert "stress_score_after" not in evaluation.metrics


def _session_with_scores_until(last_score_s: float) -> SessionEvaluator:
    """A session from 600 s to 900 s (after span to 1260 s), windows and scores every 10 s from
    300 s, the scores stopping at ``last_score_s``."""
    evaluator = SessionEvaluator()
    command = new_event_id()
    evaluator.on_outcome(_outcome(600, "started", command))
    evaluator.on_outcome(_outcome(900, "completed", command))
    for second in range(300, int(last_score_s) + 1, 10):
        evaluator.on_score(_score(second, 0.9 if second <= 600 else 0.3))
    return evaluator


def test_a_backlog_of_windows_far_ahead_of_the_scores_waits_for_them() -> None:
    """A worker catching up reads windows up to 10 minutes ahead of the scores (more than the
    grace for a patient without scores): the session waits for a score event past the span,
    and its evaluation has the after span's scores (the restart test's intermittent miss)."""
    evaluator = _session_with_scores_until(900)
    early = [
        e for second in range(300, 1900, 10) for e in evaluator.on_window(_window(second, 30, 70))
    ]
    assert early == []
    for second in range(910, 1280, 10):
        evaluator.on_score(_score(second, 0.3))
    (evaluation,) = evaluator.on_window(_window(1900, 30, 70))
    assert evaluation.metrics["stress_score_after"] == pytest.approx(0.3)
    assert evaluation.metrics["stress_score_change"] == pytest.approx(-0.6)


def test_score_events_without_a_value_also_say_the_span_is_complete() -> None:
    """Refused or calibrating windows still send a score event: one past the span completes it
    at once, without any grace."""
    evaluator = _session_with_scores_until(900)
    for second in range(300, 1270, 10):
        assert evaluator.on_window(_window(second, 30, 70)) == []
    evaluator.on_score(_score(1270, None))
    (evaluation,) = evaluator.on_window(_window(1270, 30, 70))
    assert "stress_score_after" not in evaluation.metrics  # none of the span's had a value


def test_scores_that_stop_leave_windows_to_decide_after_the_wait() -> None:
    evaluator = _session_with_scores_until(1000)
    after_end = 900 + AFTER_S
    limit = int(after_end + SCORE_WAIT_S)
    assert all(evaluator.on_window(_window(t, 30, 70)) == [] for t in range(300, limit + 1, 10))
    (evaluation,) = evaluator.on_window(_window(limit + 10, 30, 70))
    assert evaluation.metrics["stress_score_after"] == pytest.approx(0.3)  # 960-1000 s


def test_how_far_the_scores_came_survives_a_restart() -> None:
    evaluator = _session_with_scores_until(1270)
    saved = msgspec.json.decode(msgspec.json.encode(evaluator.saved()), type=EvaluatorSnapshot)
    assert saved.score_events_until == T0 + 1270 * S
    restored = SessionEvaluator.restored(saved)
    (evaluation,) = restored.on_window(_window(1270, 30, 70))
    assert evaluation.metrics["stress_score_after"] == pytest.approx(0.3)
    old = msgspec.json.decode(b'{"windows": [], "scores": []}', type=EvaluatorSnapshot)
    assert old.score_events_until is None  # snapshots written before the field still load
