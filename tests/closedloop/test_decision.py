"""The decision engine: when it acts, why it holds, and that no input sequence breaks a limit."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closedloop.decision import DAY_NS, PatientLoopState, in_quiet_hours, step
from closedloop.policy import DEFAULT_POLICY, PolicyError, with_changes
from stream.events import (
    AnyEvent,
    InterventionCommand,
    InterventionOutcome,
    PatientControl,
    PolicySnapshot,
    SleepWakeEpoch,
    StressEpisode,
    StressScore,
)
from stream.ids import new_event_id

PATIENT = "p-0123456789ab"
NOON = int(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC).timestamp() * 1e9)
S = 1_000_000_000


def episode(at_ns: int, score: float = 0.9, phase: str = "start", eid: str = "") -> StressEpisode:
    return StressEpisode(
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=at_ns,
        episode_id=eid or new_event_id(),
        phase=phase,  # type: ignore[arg-type]
        started_at_ns=at_ns,
        score=score,
        trigger_window_id=new_event_id(),
    )


def score(at_ns: int, value: float = 0.9, quality: str = "ok") -> StressScore:
    return StressScore(
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=at_ns,
        window_id=new_event_id(),
        window_end_ns=at_ns,
        score=value,
        method="rule",
        quality=quality,  # type: ignore[arg-type]
    )


def test_episode_start_above_threshold_starts_a_session_with_its_reason() -> None:
    state = PatientLoopState(policy=DEFAULT_POLICY)
    start = episode(NOON, 0.92)
    result = step(state, start, producer_id="t")
    assert result.command is not None
    assert result.decision is not None and result.decision.action == "start_session"
    assert result.decision.command_id == result.command.event_id
    assert result.command.reason.trigger_event_id == start.event_id
    assert result.command.reason.score == 0.92
    assert result.command.policy_version == 0  # the configured default: no version published
    assert result.command.parameters.duration_s == DEFAULT_POLICY.session_duration_s


def test_one_session_per_episode_and_holds_are_explained() -> None:
    state = PatientLoopState(policy=DEFAULT_POLICY)
    assert step(state, episode(NOON), producer_id="t").command is not None
    later = step(state, score(NOON + 10 * S), producer_id="t")
    assert later.command is None
    assert later.decision is not None and later.decision.action == "hold"
    assert "already had a session" in later.decision.hold_reason


def test_scores_outside_episodes_are_not_decided_on() -> None:
    state = PatientLoopState(policy=DEFAULT_POLICY)
    result = step(state, score(NOON, 0.99), producer_id="t")
    assert result.decision is None and result.command is None


@pytest.mark.parametrize(
    ("policy_changes", "at", "expected"),
    [
        ({}, NOON.__add__(10 * 3600 * S), "quiet hours"),
        ({"score_threshold": 0.95}, NOON, "below threshold"),
    ],
)
def test_holds(policy_changes: dict[str, object], at: int, expected: str) -> None:
    state = PatientLoopState(policy=with_changes(DEFAULT_POLICY, policy_changes))
    result = step(state, episode(at, 0.9), producer_id="t")
    assert result.command is None
    assert result.decision is not None and expected in result.decision.hold_reason


def test_sleep_blocks_unless_allowed() -> None:
    state = PatientLoopState(policy=DEFAULT_POLICY)
    step(
        state,
        SleepWakeEpoch(
            patient_id=PATIENT,
            producer_id="t",
            gateway_time_ns=NOON,
            epoch_start_ns=NOON,
            epoch_s=60,
            state="sleep",
            method="t",
            activity_count=0.0,
        ),
        producer_id="t",
    )
    result = step(state, episode(NOON + S), producer_id="t")
    assert result.decision is not None and result.decision.hold_reason == "patient asleep"


def test_quiet_hours_wrap_midnight_in_the_patient_timezone() -> None:
    policy = with_changes(DEFAULT_POLICY, {"timezone": "Europe/Berlin"})
    berlin_23h = int(dt.datetime(2026, 3, 10, 22, tzinfo=dt.UTC).timestamp() * 1e9)
    berlin_8h = int(dt.datetime(2026, 3, 10, 7, tzinfo=dt.UTC).timestamp() * 1e9)
    assert in_quiet_hours(policy, berlin_23h)
    assert not in_quiet_hours(policy, berlin_8h)


def test_unsafe_policy_changes_are_refused_with_reasons() -> None:
    with pytest.raises(PolicyError, match="session_duration_s=7200"):
        with_changes(DEFAULT_POLICY, {"session_duration_s": 7200})
    with pytest.raises(PolicyError, match="unknown policy keys: colour"):
        with_changes(DEFAULT_POLICY, {"colour": "blue"})
    with pytest.raises(PolicyError, match="timezone"):
        with_changes(DEFAULT_POLICY, {"timezone": "Mars/Olympus"})


policies = st.builds(
    lambda threshold, cooldown, cap, duration, randomised: with_changes(
        DEFAULT_POLICY,
        {
            "score_threshold": threshold,
            "cooldown_s": cooldown,
            "max_sessions_per_day": cap,
            "session_duration_s": duration,
            "randomisation_probability": randomised,
            "modalities": ("paced_breathing", "vibroacoustic"),
            "quiet_hours_start": None,
            "quiet_hours_end": None,
        },
    ),
    st.floats(0.5, 0.99),
    st.floats(600, 86_400),
    st.integers(0, 8),
    st.floats(60, 1200),
    st.floats(0, 0.5),
)


@st.composite
def event_sequences(draw: st.DrawFn) -> list[AnyEvent]:
    time_ns = NOON
    events: list[AnyEvent] = []
    open_episode = ""
    for _ in range(draw(st.integers(1, 120))):
        time_ns += draw(st.integers(1, 7200)) * S
        kind = draw(st.sampled_from(["start", "end", "score", "outcome", "not_now"]))
        if kind == "start":
            open_episode = new_event_id()
            events.append(episode(time_ns, draw(st.floats(0, 1)), "start", open_episode))
        elif kind == "end" and open_episode:
            events.append(episode(time_ns, 0.1, "end", open_episode))
        elif kind == "score":
            events.append(
                score(time_ns, draw(st.floats(0, 1)), draw(st.sampled_from(["ok", "motion"])))
            )
        elif kind == "not_now":
            events.append(not_now(time_ns))
        else:
            events.append(
                InterventionOutcome(
                    patient_id=PATIENT,
                    producer_id="t",
                    gateway_time_ns=time_ns,
                    command_id=new_event_id(),
                    status=draw(st.sampled_from(["started", "completed", "aborted", "rejected"])),
                    modality="paced_breathing",
                )
            )
    return events


@settings(max_examples=300, deadline=None)
@given(policy=policies, events=event_sequences())
def test_no_input_sequence_exceeds_the_policy_limits(
    policy: PolicySnapshot, events: list[AnyEvent]
) -> None:
    state = PatientLoopState(policy=policy)
    commands: list[InterventionCommand] = []
    for event in events:
        result = step(state, event, producer_id="t")
        if result.command is not None:
            commands.append(result.command)
    starts = [c.gateway_time_ns for c in commands]
    not_nows = [e.gateway_time_ns for e in events if isinstance(e, PatientControl)]
    for start in starts:  # "not now" holds for the policy's cooldown, whatever else happens
        assert not any(t <= start < t + policy.cooldown_s * S for t in not_nows)
    for i, start in enumerate(starts):
        in_day = [s for s in starts[: i + 1] if s > start - DAY_NS]
        assert len(in_day) <= policy.max_sessions_per_day
        if i:
            assert start - starts[i - 1] >= policy.cooldown_s * S
    for command in commands:
        assert command.parameters.duration_s == policy.session_duration_s
        assert command.parameters.intensity <= policy.intensity
        assert command.reason.score is not None
        assert command.reason.score >= policy.score_threshold
    assert msgspec.json.encode(commands)  # every command is serialisable


def not_now(at_ns: int) -> PatientControl:
    return PatientControl(
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=at_ns,
        action="not_now",
        source="gpio-button",
    )


def test_not_now_holds_for_the_cooldown_and_says_so() -> None:
    policy = with_changes(DEFAULT_POLICY, {"cooldown_s": 1800.0})
    state = PatientLoopState(policy=policy)
    step(state, not_now(NOON), producer_id="t")
    held = step(state, episode(NOON + 1799 * S), producer_id="t")
    assert held.command is None
    assert held.decision is not None and held.decision.hold_reason == "the patient said not now"
    assert step(state, episode(NOON + 1800 * S), producer_id="t").command is not None


def _outcome(at_ns: int, status: str) -> InterventionOutcome:
    return InterventionOutcome(
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=at_ns,
        command_id=new_event_id(),
        status=status,  # type: ignore[arg-type]
        modality="paced_breathing",
    )


def test_a_patient_who_keeps_aborting_is_asked_less_often() -> None:
    policy = with_changes(DEFAULT_POLICY, {"cooldown_s": 1800.0, "max_sessions_per_day": 8})
    state = PatientLoopState(policy=policy)
    hour = 3600 * S
    morning = NOON - 3 * hour
    assert step(state, episode(morning), producer_id="t").command is not None
    step(state, _outcome(morning + 60 * S, "aborted"), producer_id="t")
    # One abort doubles the cooldown: 45 min later is still too soon...
    held = step(state, episode(morning + hour * 3 // 4), producer_id="t")
    assert held.decision is not None and "backing off" in held.decision.hold_reason
    # ...but after an hour a session may start again, and completing it restores the cooldown.
    assert step(state, episode(morning + hour + S), producer_id="t").command is not None
    step(state, _outcome(morning + hour + 300 * S, "completed"), producer_id="t")
    step(state, _outcome(morning + hour + 301 * S, "completed"), producer_id="t")
    step(state, _outcome(morning + hour + 302 * S, "completed"), producer_id="t")
    assert step(state, episode(morning + 2 * hour), producer_id="t").command is not None
