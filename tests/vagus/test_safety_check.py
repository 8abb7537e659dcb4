"""Start-up refuses a policy the device could never run, and warns where the device is stricter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closedloop.decision import in_quiet_hours
from hardware.limits import DeviceLimits
from stream.events import PolicySnapshot
from vagus.config import ConfigError, VagusConfig, load_config
from vagus.config_outputs import LedOutput, SimulatedOutput
from vagus.safety_check import policy_device_conflicts, safety_conflicts

POLICY = PolicySnapshot()
DEVICE = DeviceLimits()


def _conflicts(
    policy: PolicySnapshot = POLICY, device: DeviceLimits = DEVICE
) -> tuple[list[str], list[str]]:
    return policy_device_conflicts(policy, device)


def _policy(**changes: object) -> PolicySnapshot:
    return msgspec.structs.replace(POLICY, **changes)


def test_the_defaults_agree() -> None:
    assert safety_conflicts(VagusConfig()) == ([], [])


@pytest.mark.parametrize(
    ("policy", "device", "keys"),
    [
        (
            _policy(session_duration_s=1200.0),
            DeviceLimits(max_session_s=600),
            ["session_duration_s", "max_session_s"],
        ),
        (
            _policy(intensity=0.7),
            DeviceLimits(max_intensity=0.5),
            ["[policy] intensity", "max_intensity"],
        ),
        (
            _policy(breaths_per_min=9.5),
            DeviceLimits(max_breaths_per_min=9),
            ["breaths_per_min=9.5", "max_breaths_per_min"],
        ),
        (
            _policy(resonance_breaths_per_min=4.5),
            DeviceLimits(min_breaths_per_min=5),
            ["resonance_breaths_per_min=4.5", "min_breaths_per_min"],
        ),
        (POLICY, DeviceLimits(max_sessions_per_day=0), ["[device_limits] max_sessions_per_day=0"]),
        (
            _policy(modalities=("vibroacoustic",)),
            DeviceLimits(modalities=frozenset({"paced_breathing"})),
            ["[policy] modalities", "device modalities: paced_breathing"],
        ),
        (
            _policy(quiet_hours_start=7, quiet_hours_end=22),
            DeviceLimits(quiet_hours=(22, 7)),
            ["[device_limits] quiet_hours_start", "[policy] quiet_hours_start", "whole day"],
        ),
        (
            _policy(quiet_hours_start=8, quiet_hours_end=20, timezone="Europe/Berlin"),
            DeviceLimits(quiet_hours=(18, 8), timezone="UTC"),
            ["whole day"],  # 20-08 Berlin is 18/19-06/07 UTC: the device's 18-08 fills the rest
        ),
    ],
)
def test_a_combination_no_session_could_pass_is_refused(
    policy: PolicySnapshot, device: DeviceLimits, keys: list[str]
) -> None:
    refusals, _ = _conflicts(policy, device)
    assert len(refusals) == 1, refusals
    for key in keys:
        assert key in refusals[0]


@pytest.mark.parametrize(
    ("policy", "device", "keys"),
    [
        (
            _policy(max_sessions_per_day=6),
            DeviceLimits(max_sessions_per_day=3),
            ["max_sessions_per_day=3 caps [policy] max_sessions_per_day=6"],
        ),
        (_policy(max_sessions_per_day=0), DEVICE, ["[policy] max_sessions_per_day=0"]),
        (
            _policy(cooldown_s=900.0),
            DeviceLimits(min_gap_s=3600),
            ["min_gap_s=3600", "cooldown_s=900"],
        ),
        (
            _policy(allow_during_sleep=True),
            DEVICE,
            ["[policy] allow_during_sleep", "[device_limits] allow_during_sleep"],
        ),
        (
            _policy(modalities=("paced_breathing", "vibroacoustic")),
            DeviceLimits(modalities=frozenset({"paced_breathing"})),
            ["['vibroacoustic'] are disabled"],
        ),
        (
            _policy(quiet_hours_start=None, quiet_hours_end=None),
            DEVICE,
            ["[device_limits] quiet_hours_start", "silence about 9 h"],
        ),
    ],
)
def test_a_device_stricter_than_the_policy_is_a_warning(
    policy: PolicySnapshot, device: DeviceLimits, keys: list[str]
) -> None:
    refusals, warnings = _conflicts(policy, device)
    assert refusals == []
    assert len(warnings) == 1, warnings
    for key in keys:
        assert key in warnings[0]


def test_an_output_capping_the_policy_intensity_is_a_warning() -> None:
    outputs = [SimulatedOutput(), LedOutput(pin=18, max_intensity=0.3)]
    refusals, warnings = policy_device_conflicts(POLICY, DEVICE, outputs)  # type: ignore[arg-type]
    assert refusals == []
    assert warnings == ["outputs[1] (led) max_intensity=0.3 caps [policy] intensity=0.5"]


def test_load_config_refuses_with_both_keys(tmp_path: Path) -> None:
    path = tmp_path / "vagus.toml"
    path.write_text(
        "[device_limits]\nmax_session_s = 120.0\n[policy]\nsession_duration_s = 300.0\n"
    )
    with pytest.raises(ConfigError, match="session_duration_s=300 exceeds") as caught:
        load_config(path)
    assert "[device_limits] max_session_s=120" in str(caught.value)
    assert str(path) in str(caught.value)


def test_load_config_accepts_a_combination_that_only_warns(tmp_path: Path) -> None:
    path = tmp_path / "vagus.toml"
    path.write_text("[device_limits]\nmax_sessions_per_day = 2\n")
    config = load_config(path)
    assert safety_conflicts(config)[1] == [
        "[device_limits] max_sessions_per_day=2 caps [policy] max_sessions_per_day=4"
    ]


_HOUR = st.integers(0, 23)


@settings(max_examples=150, deadline=None)
@given(policy_quiet=st.tuples(_HOUR, _HOUR), device_quiet=st.tuples(_HOUR, _HOUR))
def test_quiet_hours_are_refused_exactly_when_no_hour_is_left(
    policy_quiet: tuple[int, int], device_quiet: tuple[int, int]
) -> None:
    policy = _policy(quiet_hours_start=policy_quiet[0], quiet_hours_end=policy_quiet[1])
    device = DeviceLimits(quiet_hours=device_quiet)
    day = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    hours = [int((day + dt.timedelta(hours=h)).timestamp() * 1e9) for h in range(24)]
    open_hours = [
        t for t in hours if not in_quiet_hours(policy, t) and not device.in_quiet_hours(t)
    ]
    refusals, _ = _conflicts(policy, device)
    assert bool(refusals) == (not open_hours)
