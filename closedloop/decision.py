"""When to start a session: a pure function of one patient's state and the next event.

"Now" is always the event's own time (``gateway_time_ns``), never the worker's wall clock, so
replays and restarts decide the same way. Every hard limit is checked here and checked again by
the device's interlock on the gateway (hardware.limits).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from closedloop.personalisation import ModalityBandit, decision_rng, helped
from closedloop.policy import paced_breathing_rate
from closedloop.signal_quality import StreamQuality, note_signal_quality, signal_quality_hold
from stream.events import (
    AnyEvent,
    DecisionReason,
    InterventionCommand,
    InterventionOutcome,
    LoopDecision,
    Modality,
    PatientControl,
    PolicySnapshot,
    SessionParameters,
    SignalQuality,
    SleepWakeEpoch,
    StressEpisode,
    StressScore,
)
from stream.ids import derived_event_id

DAY_NS = 86_400 * 1_000_000_000
ABORT_MEMORY = 3
RULE = "episode-score-over-threshold/1"


@dataclass
class PatientLoopState:
    """Everything the loop remembers about one patient."""

    policy: PolicySnapshot
    #: 0 while the patient runs on the configured default (no published version yet).
    policy_version: int = 0
    open_episode: StressEpisode | None = None
    acted_episode_id: str | None = None
    session_starts_ns: deque[int] = field(default_factory=deque)
    busy_until_ns: int = 0
    asleep: bool = False
    #: Outcomes of the most recent sessions, newest last (``True`` = the patient aborted).
    recent_aborts: deque[bool] = field(default_factory=lambda: deque(maxlen=ABORT_MEMORY))
    bandit: ModalityBandit = field(default_factory=ModalityBandit)
    #: Latest report per stream; the gateway reports each stream at start and on every change.
    signal_quality: dict[str, StreamQuality] = field(default_factory=dict)
    #: The patient said "not now": no session before this time (the policy's cooldown).
    not_now_until_ns: int = 0


def record_evaluation(
    state: PatientLoopState, modality: Modality, metrics: dict[str, float]
) -> None:
    """Feed a session's evaluation into the patient's modality beliefs."""
    outcome = helped(metrics)
    if outcome is not None:
        state.bandit.record(modality, outcome)


def backoff_factor(state: PatientLoopState) -> float:
    """How much longer the cooldown is for a patient who keeps stopping sessions.

    Each abort among the last ``ABORT_MEMORY`` sessions doubles the cooldown: a patient who
    finds sessions intrusive is asked less often, never more; completed sessions win it back.
    """
    return float(2 ** sum(state.recent_aborts))


def in_quiet_hours(policy: PolicySnapshot, time_ns: int) -> bool:
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if start is None or end is None or start == end:
        return False
    local = dt.datetime.fromtimestamp(time_ns / 1e9, tz=zoneinfo.ZoneInfo(policy.timezone))
    hour = local.hour
    return start <= hour < end if start < end else hour >= start or hour < end


def hold_reason(state: PatientLoopState, now_ns: int) -> str | None:
    """Why no session may start at ``now_ns``, or ``None`` when one may."""
    return next(_holds(state, now_ns), None)


def _holds(state: PatientLoopState, now_ns: int) -> Iterator[str]:
    """Every limit that holds at ``now_ns``, in the order a clinician is told the first."""
    policy = state.policy
    while state.session_starts_ns and state.session_starts_ns[0] <= now_ns - DAY_NS:
        state.session_starts_ns.popleft()
    if now_ns < state.busy_until_ns:
        yield "a session is running"
    if now_ns < state.not_now_until_ns:
        yield "the patient said not now"
    if len(state.session_starts_ns) >= policy.max_sessions_per_day:
        yield f"daily cap of {policy.max_sessions_per_day} sessions reached"
    cooling = _cooldown_hold(state, now_ns)
    if cooling is not None:
        yield cooling
    if in_quiet_hours(policy, now_ns):
        yield "quiet hours"
    if state.asleep and not policy.allow_during_sleep:
        yield "patient asleep"


def _cooldown_hold(state: PatientLoopState, now_ns: int) -> str | None:
    base_s = state.policy.cooldown_s
    cooldown_s = base_s * backoff_factor(state)
    if not state.session_starts_ns or now_ns - state.session_starts_ns[-1] >= cooldown_s * 1e9:
        return None
    if cooldown_s > base_s:
        return f"cooldown of {cooldown_s:g} s (backing off after aborted sessions)"
    return f"cooldown of {base_s:g} s since the last session"


@dataclass(frozen=True, slots=True)
class StepResult:
    """The loop's answer to one event: a logged decision (during episodes) and maybe a command."""

    decision: LoopDecision | None = None
    command: InterventionCommand | None = None


NOTHING = StepResult()


def step(state: PatientLoopState, event: AnyEvent, *, producer_id: str) -> StepResult:
    """Update ``state`` with ``event``; say what to log and send.

    Exactly one decision is logged for each episode start and for each score that arrives while
    an episode is open; every other event only updates state.
    """
    if isinstance(event, StressEpisode):
        if event.phase == "start":
            state.open_episode = event
            return _consider(state, event, event.score, event.trigger_window_id, producer_id)
        state.open_episode = None
        return NOTHING
    if isinstance(event, StressScore):
        if state.open_episode is None:
            return NOTHING
        return _consider(state, event, event.score, event.window_id, producer_id)
    if isinstance(event, SignalQuality):
        note_signal_quality(state.signal_quality, event)
    elif isinstance(event, InterventionOutcome):
        _apply_outcome(state, event)
    elif isinstance(event, SleepWakeEpoch):
        state.asleep = event.state == "sleep"
    elif isinstance(event, PatientControl):
        _apply_patient_control(state, event)
    return NOTHING


def _apply_patient_control(state: PatientLoopState, control: PatientControl) -> None:
    """A stop ends the loop's view of the session; "not now" also holds for the cooldown.

    The abort's back-off comes from the ``aborted`` outcome the device reports for the session,
    not from here, so one press is never counted twice.
    """
    state.busy_until_ns = min(state.busy_until_ns, control.gateway_time_ns)
    if control.action == "not_now":
        until = control.gateway_time_ns + int(state.policy.cooldown_s * 1e9)
        state.not_now_until_ns = max(state.not_now_until_ns, until)


def _apply_outcome(state: PatientLoopState, outcome: InterventionOutcome) -> None:
    if outcome.status == "started":
        duration_ns = int(state.policy.session_duration_s * 1e9)
        state.busy_until_ns = max(state.busy_until_ns, outcome.gateway_time_ns + duration_ns)
    elif outcome.status in {"completed", "aborted", "failed", "rejected"}:
        state.busy_until_ns = min(state.busy_until_ns, outcome.gateway_time_ns)
    if outcome.status in {"completed", "aborted"}:
        state.recent_aborts.append(outcome.status == "aborted")


def _hold_before_limits(
    state: PatientLoopState, trigger: StressEpisode | StressScore, score: float | None
) -> str | None:
    episode = state.open_episode
    assert episode is not None
    if state.acted_episode_id == episode.episode_id:
        return "this episode already had a session"
    if isinstance(trigger, StressScore) and trigger.quality != "ok":
        return f"signal quality: {trigger.quality}"
    signal = signal_quality_hold(state.signal_quality, state.policy, trigger.gateway_time_ns)
    if signal is not None:
        return signal
    if score is None or score < state.policy.score_threshold:
        shown = "none" if score is None else f"{score:.2f}"
        return f"score {shown} below threshold {state.policy.score_threshold:.2f}"
    return None


def _consider(
    state: PatientLoopState,
    trigger: StressEpisode | StressScore,
    score: float | None,
    window_id: str,
    producer_id: str,
) -> StepResult:
    episode = state.open_episode
    assert episode is not None
    now = trigger.gateway_time_ns
    hold = _hold_before_limits(state, trigger, score) or hold_reason(state, now)
    if hold is not None or score is None:
        return StepResult(decision=_decision(state, trigger, score, producer_id, hold=hold or ""))
    policy = state.policy
    state.acted_episode_id = episode.episode_id  # one eligible moment per episode
    rng = decision_rng(trigger.event_id)
    if rng.random() < policy.randomisation_probability:
        randomised = f"micro-randomised to no session (p={policy.randomisation_probability:g})"
        return StepResult(decision=_decision(state, trigger, score, producer_id, hold=randomised))
    modality, draws = state.bandit.choose(policy.modalities, rng)
    state.session_starts_ns.append(now)
    state.busy_until_ns = now + int(policy.session_duration_s * 1e9)
    command = InterventionCommand(
        event_id=derived_event_id("command", trigger.event_id),
        patient_id=trigger.patient_id,
        producer_id=producer_id,
        gateway_time_ns=now,
        device_time_ns=trigger.device_time_ns,
        action="start",
        modality=modality,
        parameters=SessionParameters(
            duration_s=policy.session_duration_s,
            breaths_per_min=paced_breathing_rate(policy),
            inhale_fraction=policy.inhale_fraction,
            intensity=policy.intensity,
        ),
        reason=DecisionReason(
            rule=RULE,
            trigger_event_id=trigger.event_id,
            trigger_window_id=window_id,
            score=score,
            values=dict(episode.components) | {"threshold": policy.score_threshold} | draws,
        ),
        policy_version=state.policy_version,
        expires_at_ns=now + int(policy.command_ttl_s * 1e9),
    )
    decision = _decision(state, trigger, score, producer_id, command_id=command.event_id)
    return StepResult(decision=decision, command=command)


def _decision(
    state: PatientLoopState,
    trigger: StressEpisode | StressScore,
    score: float | None,
    producer_id: str,
    *,
    hold: str = "",
    command_id: str | None = None,
) -> LoopDecision:
    episode = state.open_episode
    assert episode is not None
    return LoopDecision(
        event_id=derived_event_id("decision", trigger.event_id),
        patient_id=trigger.patient_id,
        producer_id=producer_id,
        gateway_time_ns=trigger.gateway_time_ns,
        device_time_ns=trigger.device_time_ns,
        trigger_event_id=trigger.event_id,
        episode_id=episode.episode_id,
        action="hold" if command_id is None else "start_session",
        command_id=command_id,
        hold_reason=hold,
        score=score,
        policy_version=state.policy_version,
    )
