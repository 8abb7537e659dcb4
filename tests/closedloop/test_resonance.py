"""The paced-breathing rate: the default, or the patient's resonance rate when a clinician sets it,
always inside both safety layers (the policy's safe ranges and the device interlock's)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closedloop.decision import PatientLoopState, step
from closedloop.policy import DEFAULT_POLICY, SAFE_RANGES, PolicyError, with_changes
from closedloop.policy_store import parse_assignments
from hardware.limits import DeviceLimits, Interlock
from stream.events import InterventionCommand
from tests.closedloop.test_decision import NOON, episode

UNSET_QUIET = {"quiet_hours_start": None, "quiet_hours_end": None}


def _command(changes: dict[str, object]) -> InterventionCommand:
    state = PatientLoopState(policy=with_changes(DEFAULT_POLICY, changes))
    command = step(state, episode(NOON), producer_id="t").command
    assert command is not None
    return command


def test_the_resonance_rate_paces_the_session_when_set() -> None:
    assert _command({}).parameters.breaths_per_min == 6.0
    assert _command({"resonance_breaths_per_min": 5.5}).parameters.breaths_per_min == 5.5
    unset = _command({"resonance_breaths_per_min": None, "breaths_per_min": 7.0})
    assert unset.parameters.breaths_per_min == 7.0


def test_clinicians_set_and_unset_it_with_key_value_and_unsafe_values_are_refused() -> None:
    assert parse_assignments(["resonance_breaths_per_min=5.25"]) == {
        "resonance_breaths_per_min": 5.25
    }
    assert parse_assignments(["resonance_breaths_per_min=none"]) == {
        "resonance_breaths_per_min": None
    }
    for unsafe in (3.5, 7.6, 9.0):
        with pytest.raises(PolicyError, match=r"resonance_breaths_per_min=.* outside the safe"):
            with_changes(DEFAULT_POLICY, {"resonance_breaths_per_min": unsafe})
    with pytest.raises(PolicyError, match="resonance_breaths_per_min"):
        with_changes(DEFAULT_POLICY, {"resonance_breaths_per_min": 20.0})  # outside the wire type


def test_every_rate_the_policy_allows_is_one_the_device_accepts() -> None:
    device = DeviceLimits()
    for name in ("breaths_per_min", "resonance_breaths_per_min"):
        low, high = SAFE_RANGES[name]
        assert device.min_breaths_per_min <= low <= high <= device.max_breaths_per_min


@settings(max_examples=200, deadline=None)
@given(
    resonance=st.none() | st.floats(0.0, 15.0),
    default=st.floats(0.0, 15.0),
)
def test_no_policy_change_makes_a_command_pace_outside_either_layer(
    resonance: float | None, default: float
) -> None:
    changes = {"resonance_breaths_per_min": resonance, "breaths_per_min": default} | UNSET_QUIET
    try:
        policy = with_changes(DEFAULT_POLICY, changes)
    except PolicyError:
        return  # refused with a reason: nothing reaches the device
    command = step(PatientLoopState(policy=policy), episode(NOON), producer_id="t").command
    assert command is not None
    rate = command.parameters.breaths_per_min
    assert rate == (resonance if resonance is not None else default)
    field = "resonance_breaths_per_min" if resonance is not None else "breaths_per_min"
    low, high = SAFE_RANGES[field]
    assert low <= rate <= high
    assert Interlock(DeviceLimits(quiet_hours=None)).refusal(command, NOON) is None
