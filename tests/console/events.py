"""Events for the console's tests: one patient's windows, scores, a session and decisions."""

from __future__ import annotations

from stream.codec import encode_event
from stream.events import (
    AnyEvent,
    DecisionReason,
    Features,
    FeatureWindow,
    InterventionCommand,
    InterventionOutcome,
    LoopDecision,
    SessionEvaluation,
    SessionParameters,
    SignalQuality,
    SleepWakeEpoch,
    StressEpisode,
    StressScore,
)

PATIENT = "p-0123456789ab"
T0 = 1_773_152_400 * 10**9  # 2026-03-10T14:20:00Z
S = 10**9


def window(i: int, patient: str = PATIENT) -> FeatureWindow:
    return FeatureWindow(
        patient_id=patient,
        producer_id="test",
        gateway_time_ns=T0 + i * 10 * S,
        window_start_ns=T0 + (i * 10 - 60) * S,
        window_end_ns=T0 + i * 10 * S,
        features=Features(heart_rate_bpm=60.0 + i, rmssd_ms=40.0 - i, scr_rate_per_min=1.0),
        coverage={"ecg": 1.0},
    )


def score(i: int, value: float, patient: str = PATIENT) -> StressScore:
    return StressScore(
        patient_id=patient,
        producer_id="test",
        gateway_time_ns=T0 + i * 10 * S,
        window_id=f"window-{i:04d}",
        window_end_ns=T0 + i * 10 * S,
        score=value,
        method="model",
        quality="ok",
        components={"z_hrv_rmssd": -2.5},
    )


def quality(i: int, kind: str = "ok") -> SignalQuality:
    return SignalQuality(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=T0 + i * 10 * S,
        device_id="d-0123abcd",
        stream="ecg",
        span_start_ns=T0,
        span_end_ns=T0 + i * 10 * S,
        coverage=1.0 if kind == "ok" else 0.2,
        kind=kind,  # type: ignore[arg-type]
    )


def command(i: int) -> InterventionCommand:
    return InterventionCommand(
        event_id=f"command-{i:04d}",
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=T0 + i * 10 * S,
        action="start",
        modality="paced_breathing",
        parameters=SessionParameters(duration_s=300.0),
        reason=DecisionReason(rule="threshold", trigger_event_id=f"trigger-{i:04d}"),
        policy_version=0,
        expires_at_ns=T0 + (i * 10 + 60) * S,
    )


def outcome(i: int, status: str, at_s: int) -> InterventionOutcome:
    return InterventionOutcome(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=T0 + at_s * S,
        command_id=f"command-{i:04d}",
        status=status,  # type: ignore[arg-type]
        modality="paced_breathing",
    )


def decision(i: int, hold: str, trigger: StressScore) -> LoopDecision:
    return LoopDecision(
        event_id=f"decision-{i:04d}",
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=trigger.gateway_time_ns,
        trigger_event_id=trigger.event_id,
        episode_id="episode-0001",
        action="hold" if hold else "start_session",
        command_id=None if hold else f"command-{i:04d}",
        hold_reason=hold,
        score=trigger.score,
        policy_version=0,
    )


def episode(i: int, phase: str, started_i: int) -> StressEpisode:
    return StressEpisode(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=T0 + i * 10 * S,
        episode_id="episode-0001",
        phase=phase,  # type: ignore[arg-type]
        started_at_ns=T0 + started_i * 10 * S,
        score=0.9,
        trigger_window_id=f"window-{i:04d}",
    )


def sleep_epoch(i: int, state: str) -> SleepWakeEpoch:
    """The 30 s epoch starting at ``T0 + 30 s * i``."""
    return SleepWakeEpoch(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=T0 + (i + 1) * 30 * S,
        epoch_start_ns=T0 + i * 30 * S,
        epoch_s=30,
        state=state,  # type: ignore[arg-type]
        method="test",
        activity_count=0.0,
    )


def evaluation(i: int) -> SessionEvaluation:
    return SessionEvaluation(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=T0 + (i * 10 + 600) * S,
        command_id=f"command-{i:04d}",
        modality="paced_breathing",
        outcome="completed",
        session_start_ns=T0 + (i * 10 + 2) * S,
        session_end_ns=T0 + (i * 10 + 302) * S,
        metrics={
            "rmssd_ms_before": 41.5,
            "rmssd_ms_during": 30.0,
            "rmssd_ms_after": 36.0,
            "rmssd_ms_change": -5.5,
        },
    )


def story() -> list[AnyEvent]:
    """40 windows and scores, a minute of sleep at the start, an episode over windows 20-30
    with a session (and its evaluation) and then holds."""
    events: list[AnyEvent] = [quality(0)]
    events += [sleep_epoch(0, "sleep"), sleep_epoch(1, "sleep"), sleep_epoch(2, "wake")]
    for i in range(40):
        value = 0.9 if 20 <= i < 30 else 0.2
        trigger = score(i, value)
        events += [window(i), trigger]
        if i == 20:
            events.append(episode(i, "start", i))
            events += [decision(i, "", trigger), command(i), outcome(i, "started", i * 10 + 2)]
        elif i == 30:
            events.append(episode(i, "end", 20))
        elif 20 < i < 30:
            events.append(decision(i, "cooldown of 1800 s since the last session", trigger))
    events += [outcome(20, "completed", 20 * 10 + 302), evaluation(20)]
    return events


def encoded(events: list[AnyEvent]) -> list[bytes]:
    return [encode_event(event) for event in events]
