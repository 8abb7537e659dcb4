"""The device-side interlock and session runner: the second line of safety."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.devices import SimulatedDevice
from hardware.limits import DAY_NS, DeviceLimits, Interlock, InterlockStore
from hardware.runner import SessionRunner
from stream.events import (
    DecisionReason,
    InterventionCommand,
    InterventionOutcome,
    SessionParameters,
)
from stream.ids import new_event_id

S = 1_000_000_000


def command(
    at_ns: int,
    duration_s: float = 60.0,
    intensity: float = 0.5,
    ttl_s: float = 60,
    *,
    breaths_per_min: float = 6.0,
) -> InterventionCommand:
    return InterventionCommand(
        patient_id="p-0123456789ab",
        producer_id="t",
        gateway_time_ns=at_ns,
        action="start",
        modality="paced_breathing",
        parameters=SessionParameters(
            duration_s=duration_s, intensity=intensity, breaths_per_min=breaths_per_min
        ),
        reason=DecisionReason(rule="t", trigger_event_id=new_event_id()),
        policy_version=1,
        expires_at_ns=at_ns + int(ttl_s * S),
    )


class FakeClock:
    """A manual clock: sleeping jumps time forward (the runner's logic, not timing, is tested)."""

    def __init__(self, now_ns: int = 0) -> None:
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now

    async def sleep_until(self, time_ns: int) -> None:
        self.now = max(self.now, time_ns)
        await asyncio.sleep(0)


def test_refusals_name_the_limit() -> None:
    interlock = Interlock(
        DeviceLimits(max_session_s=600, max_intensity=0.6, min_gap_s=900, quiet_hours=None)
    )
    assert "duration 900" in (interlock.refusal(command(0, duration_s=900), 0) or "")
    assert "intensity 0.7" in (interlock.refusal(command(0, intensity=0.7), 0) or "")
    assert "expired" in (interlock.refusal(command(0), 61 * S) or "")
    assert "breathing rate 11/min outside [4, 10]" in (
        interlock.refusal(command(0, breaths_per_min=11), 0) or ""
    )
    assert "breathing rate 3.5/min" in (interlock.refusal(command(0, breaths_per_min=3.5), 0) or "")
    assert interlock.refusal(command(0), 0) is None
    interlock.record_start(0, 60)
    assert "already running" in (interlock.refusal(command(S), S) or "")
    interlock.record_end(60 * S)
    assert "since the last session" in (interlock.refusal(command(100 * S), 100 * S) or "")


@settings(max_examples=200, deadline=None)
@given(
    limits=st.builds(
        DeviceLimits,
        max_session_s=st.floats(60, 3600),
        max_intensity=st.floats(0, 1),
        max_sessions_per_day=st.integers(0, 10),
        min_gap_s=st.floats(0, 7200),
        quiet_hours=st.none() | st.tuples(st.integers(0, 23), st.integers(0, 23)),
        min_breaths_per_min=st.floats(3, 6),
        max_breaths_per_min=st.floats(6, 12),
    ),
    requests=st.lists(
        st.tuples(st.integers(1, 20_000), st.floats(1, 4000), st.floats(0, 1), st.floats(3, 12)),
        max_size=80,
    ),
)
def test_no_command_sequence_exceeds_the_device_limits(
    limits: DeviceLimits, requests: list[tuple[int, float, float, float]]
) -> None:
    interlock = Interlock(limits)
    now = 0
    accepted: list[tuple[int, float, float, float]] = []
    for gap_s, duration_s, intensity, rate in requests:
        now += gap_s * S
        asked = command(now, duration_s, intensity, breaths_per_min=rate)
        if interlock.refusal(asked, now) is None:
            interlock.record_start(now, duration_s)
            accepted.append((now, duration_s, intensity, rate))
    for i, (start, duration_s, intensity, rate) in enumerate(accepted):
        assert not limits.in_quiet_hours(start)
        assert duration_s <= limits.max_session_s
        assert intensity <= limits.max_intensity
        assert limits.min_breaths_per_min <= rate <= limits.max_breaths_per_min
        assert (
            sum(1 for s, *_ in accepted[: i + 1] if s > start - DAY_NS)
            <= limits.max_sessions_per_day
        )
        if i:
            previous, previous_duration, *_ = accepted[i - 1]
            assert start - previous >= limits.min_gap_s * S
            assert start >= previous + previous_duration * S


async def test_runner_reports_every_state_and_renders_breaths() -> None:
    outcomes: list[InterventionOutcome] = []

    async def emit(outcome: InterventionOutcome) -> None:
        outcomes.append(outcome)

    clock = FakeClock(10 * S)
    device = SimulatedDevice()
    runner = SessionRunner(
        device=device,
        interlock=Interlock(DeviceLimits(quiet_hours=None)),
        clock=clock,
        emit=emit,
        producer_id="t",
    )
    await runner.handle(command(10 * S, duration_s=60))
    await runner.wait_idle()
    await runner.handle(command(clock.now, duration_s=60))  # too soon after the first
    assert [o.status for o in outcomes] == [
        "requested",
        "started",
        "completed",
        "requested",
        "rejected",
    ]
    assert outcomes[2].metrics["breaths"] == 6  # 60 s at 6 breaths per minute
    assert [p for _, p in device.phases[:2]] == ["inhale", "exhale"]
    assert "since the last session" in outcomes[4].detail


async def test_patient_abort_stops_the_session_at_once() -> None:
    outcomes: list[InterventionOutcome] = []

    async def emit(outcome: InterventionOutcome) -> None:
        outcomes.append(outcome)

    class SlowClock(FakeClock):
        async def sleep_until(self, time_ns: int) -> None:
            await asyncio.sleep(0.01)
            self.now = max(self.now, time_ns)

    runner = SessionRunner(
        device=SimulatedDevice(),
        interlock=Interlock(DeviceLimits(quiet_hours=None)),
        clock=SlowClock(),
        emit=emit,
        producer_id="t",
    )
    first = command(0, duration_s=600)
    await runner.handle(first)
    await asyncio.sleep(0.05)
    assert runner.current == first
    stopped = await runner.abort("patient:gpio-button")
    assert stopped == first and runner.current is None
    assert [o.status for o in outcomes] == ["requested", "started", "aborted"]
    assert outcomes[2].metrics["ran_s"] < 600
    assert outcomes[2].detail == "aborted by patient:gpio-button"  # who stopped it
    assert await runner.abort("patient:gpio-button") is None  # nothing running: nothing to stop


def test_the_interlock_remembers_across_a_restart(tmp_path: Path) -> None:
    store = InterlockStore(tmp_path / "interlock.json")
    limits = DeviceLimits(max_sessions_per_day=2, min_gap_s=900, quiet_hours=None)
    first = Interlock(limits, store=store)
    assert first.refusal(command(0), 0) is None
    first.record_start(0, 60)
    first.record_end(60 * S)
    restarted = Interlock(limits, store=store)  # the gateway rebooted
    assert "since the last session" in (restarted.refusal(command(300 * S), 300 * S) or "")
    assert restarted.refusal(command(1000 * S), 1000 * S) is None
    restarted.record_start(1000 * S, 60)
    again = Interlock(limits, store=store)
    assert "2 sessions in the last 24 h" in (again.refusal(command(5000 * S), 5000 * S) or "")


def test_unreadable_state_fails_safe(tmp_path: Path) -> None:
    path = tmp_path / "interlock.json"
    path.write_text("{half a file")
    interlock = Interlock(DeviceLimits(min_gap_s=900, quiet_hours=None), store=InterlockStore(path))
    assert "unreadable" in (interlock.refusal(command(0), 0) or "")
    assert "unreadable" in (interlock.refusal(command(899 * S), 899 * S) or "")
    assert interlock.refusal(command(900 * S), 900 * S) is None


def test_quiet_hours_and_sleep_are_enforced_on_the_device_too() -> None:
    limits = DeviceLimits(quiet_hours=(22, 7), timezone="Europe/Berlin", min_gap_s=0)
    interlock = Interlock(limits)
    berlin_23h = 1_773_176_400 * S  # 2026-03-10 22:00 UTC = 23:00 in Berlin
    berlin_10h = berlin_23h + 11 * 3600 * S
    assert "quiet hours" in (interlock.refusal(command(berlin_23h), berlin_23h) or "")
    assert interlock.refusal(command(berlin_10h), berlin_10h) is None
    interlock.asleep = True
    assert "asleep" in (interlock.refusal(command(berlin_10h), berlin_10h) or "")
    napping_allowed = Interlock(
        DeviceLimits(quiet_hours=None, allow_during_sleep=True), asleep=True
    )
    assert napping_allowed.refusal(command(berlin_10h), berlin_10h) is None


@settings(max_examples=200, deadline=None)
@given(
    quiet_s=st.integers(60, 86_400),
    attempts=st.lists(st.integers(0, 2 * 86_400), min_size=1, max_size=30),
)
def test_not_now_refuses_every_session_until_it_ends_even_after_a_restart(
    quiet_s: int, attempts: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = InterlockStore(Path(folder) / "interlock.json")
        limits = DeviceLimits(max_sessions_per_day=100, min_gap_s=0, quiet_hours=None)
        Interlock(limits, store=store).quiet_until(quiet_s * S)
        restarted = Interlock(limits, store=store)
        for at_s in sorted(attempts):
            refusal = restarted.refusal(command(at_s * S, duration_s=1), at_s * S)
            if at_s < quiet_s:
                assert refusal == "the patient said not now"
            else:
                assert refusal != "the patient said not now"
                if refusal is None:
                    restarted.record_start(at_s * S, 1)
                    restarted.record_end(at_s * S + S)


def test_the_interlock_state_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "interlock.json"
    (tmp_path / "interlock.tmp").write_text("{}")  # a stale temporary file, created wider
    (tmp_path / "interlock.tmp").chmod(0o644)
    interlock = Interlock(DeviceLimits(quiet_hours=None), store=InterlockStore(path))
    interlock.record_start(0, 60)
    assert path.stat().st_mode & 0o777 == 0o600


def test_nan_session_parameters_are_refused_not_let_through() -> None:
    interlock = Interlock(DeviceLimits(quiet_hours=None))
    nan = float("nan")
    assert "duration nan" in (interlock.refusal(command(0, duration_s=nan), 0) or "")
    assert "intensity nan" in (interlock.refusal(command(0, intensity=nan), 0) or "")
    assert "breathing rate nan" in (interlock.refusal(command(0, breaths_per_min=nan), 0) or "")
