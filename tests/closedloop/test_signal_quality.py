"""Signal quality: a loose strap (poor or stale quality reports) never triggers a session."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closedloop.decision import PatientLoopState, step
from closedloop.policy import DEFAULT_POLICY, PolicyError, with_changes
from closedloop.signal_quality import signal_quality_hold
from stream.events import AnyEvent, CoverageKind, SignalQuality
from tests.closedloop.test_decision import NOON, PATIENT, S, episode, score

UNSET_QUIET = {"quiet_hours_start": None, "quiet_hours_end": None}
KINDS: tuple[CoverageKind, ...] = ("ok", "degraded", "gap")


def quality(at_ns: int, kind: CoverageKind, stream: str = "ecg") -> SignalQuality:
    coverage = {"ok": 1.0, "degraded": 0.42, "gap": 0.05}[kind]
    return SignalQuality(
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=at_ns,
        device_id="d-5n2r8t4y",
        stream=stream,
        span_start_ns=at_ns - 60 * S,
        span_end_ns=at_ns,
        coverage=coverage,
        kind=kind,
    )


def test_a_poor_stream_holds_with_the_reason_until_it_recovers() -> None:
    state = PatientLoopState(policy=DEFAULT_POLICY)
    assert step(state, quality(NOON - 60 * S, "gap"), producer_id="t").decision is None
    held = step(state, episode(NOON), producer_id="t")
    assert held.command is None and held.decision is not None
    assert held.decision.action == "hold"
    assert held.decision.hold_reason == "poor_signal: ecg gap (5% coverage)"
    step(state, quality(NOON + 10 * S, "ok"), producer_id="t")
    later = step(state, score(NOON + 20 * S, 0.9), producer_id="t")  # same episode, strap fixed
    assert later.command is not None


def test_every_poor_stream_is_named_and_an_older_report_arriving_late_is_ignored() -> None:
    state = PatientLoopState(policy=DEFAULT_POLICY)
    step(state, quality(NOON - 10 * S, "degraded", "eda"), producer_id="t")
    step(state, quality(NOON - 10 * S, "gap", "acc"), producer_id="t")
    step(state, quality(NOON - 20 * S, "ok", "eda"), producer_id="t")  # older: changes nothing
    held = step(state, episode(NOON), producer_id="t")
    assert held.decision is not None
    assert held.decision.hold_reason == (
        "poor_signal: acc gap (5% coverage), eda degraded (42% coverage)"
    )


def test_stale_reports_hold_only_when_the_policy_sets_a_maximum_age() -> None:
    policy = with_changes(DEFAULT_POLICY, {"signal_quality_max_age_s": 600.0})
    never_reported = PatientLoopState(policy=policy)
    held = step(never_reported, episode(NOON), producer_id="t")
    assert held.decision is not None
    assert held.decision.hold_reason.startswith("stale_signal: no signal-quality report")
    old = PatientLoopState(policy=policy)
    step(old, quality(NOON - 900 * S, "ok"), producer_id="t")
    held = step(old, episode(NOON), producer_id="t")
    assert held.decision is not None
    assert held.decision.hold_reason == (
        "stale_signal: newest quality report is 900 s old (max 600 s)"
    )
    fresh = PatientLoopState(policy=policy)
    step(fresh, quality(NOON - 300 * S, "ok"), producer_id="t")
    assert step(fresh, episode(NOON), producer_id="t").command is not None
    # Without a maximum age, a gateway that never reported quality is not held (on-change only).
    assert signal_quality_hold({}, DEFAULT_POLICY, NOON) is None
    with pytest.raises(PolicyError, match=r"signal_quality_max_age_s=10 is outside the safe"):
        with_changes(DEFAULT_POLICY, {"signal_quality_max_age_s": 10.0})


@st.composite
def streams_of_events(draw: st.DrawFn) -> list[AnyEvent]:
    time_ns = NOON
    events: list[AnyEvent] = []
    for _ in range(draw(st.integers(1, 80))):
        time_ns += draw(st.integers(1, 3600)) * S
        kind = draw(st.sampled_from(["quality", "start", "score"]))
        if kind == "quality":
            stream = draw(st.sampled_from(["ecg", "eda", "acc"]))
            coverage = draw(st.sampled_from(KINDS))
            lateness = draw(st.sampled_from([0, 0, 0, 30]))  # some reports arrive late
            events.append(quality(time_ns - lateness * S, coverage, stream))
        elif kind == "start":
            events.append(episode(time_ns, draw(st.floats(0.7, 1))))
        else:
            events.append(score(time_ns, draw(st.floats(0.7, 1))))
    return events


@settings(max_examples=300, deadline=None)
@given(
    events=streams_of_events(),
    max_age_s=st.none() | st.floats(60, 3600),
)
def test_no_session_starts_while_the_latest_quality_is_poor_or_stale(
    events: list[AnyEvent], max_age_s: float | None
) -> None:
    policy = with_changes(
        DEFAULT_POLICY,
        {"cooldown_s": 600.0, "max_sessions_per_day": 8, "signal_quality_max_age_s": max_age_s}
        | UNSET_QUIET,
    )
    state = PatientLoopState(policy=policy)
    latest: dict[str, tuple[int, str]] = {}  # an independent model: stream -> (time, kind)
    for event in events:
        if isinstance(event, SignalQuality):
            known = latest.get(event.stream)
            if known is None or known[0] <= event.span_end_ns:
                latest[event.stream] = (event.span_end_ns, event.kind)
        result = step(state, event, producer_id="t")
        if result.command is None:
            continue
        now = event.gateway_time_ns
        assert all(kind == "ok" for _, kind in latest.values())
        if max_age_s is not None:
            assert latest and now - max(t for t, _ in latest.values()) <= max_age_s * S
