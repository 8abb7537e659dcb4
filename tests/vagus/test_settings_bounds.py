"""No setting can switch a safety limit off: every number in every section is finite and bounded.

The fields are found by walking the configuration's types, so a numeric key added later is
covered without touching this file (a new ``[[outputs]]`` kind needs an entry in ``_MINIMAL``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tempfile
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closedloop.decision import DAY_NS, PatientLoopState, step
from closedloop.policy import SAFE_RANGES, policy_problems
from hardware.limits import (
    MAX_GAP_S,
    MAX_SESSIONS_PER_DAY,
    DeviceLimits,
    Interlock,
    InterlockStore,
)
from stream.events import PolicySnapshot, SessionParameters, StressEpisode
from stream.ids import new_event_id
from tests.hardware.test_interlock import command
from vagus.config import ConfigError, VagusConfig, load_config

S = 1_000_000_000
NOON = int(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC).timestamp() * 1e9)

#: The smallest valid entry of each ``[[outputs]]``/``[[controls]]`` kind, to vary one key of.
_MINIMAL: dict[str, dict[str, Any]] = {
    "vibroacoustic": {},
    "led": {"pin": 18},
    "ble_haptic": {"name_prefix": "vBand"},
    "simulated": {},
    "gpio_button": {"pin": 17},
}
#: Keys where a negative number is meaningful: a value far below the lower bound stands in.
_NEGATIVE_ALLOWED = {"stress_model.platt_intercept"}


@dataclasses.dataclass(frozen=True)
class NumericKey:
    section: str  # "device_limits", or "outputs" for a list of tables
    key: str
    is_int: bool
    entry: dict[str, Any] | None = None  # for list sections: the entry the key is set in

    @property
    def name(self) -> str:
        kind = f"[{self.entry['kind']}]" if self.entry else ""
        return f"{self.section}{kind}.{self.key}"


def _numeric(kind: msgspec.inspect.Type) -> msgspec.inspect.Type | None:
    """The int or float type of a field (through ``| None``), else None."""
    if isinstance(kind, msgspec.inspect.UnionType):
        found = [_numeric(t) for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
        return found[0] if len(found) == 1 else None
    if isinstance(kind, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        return kind
    return None


def _struct_types(kind: msgspec.inspect.Type) -> list[msgspec.inspect.StructType]:
    if isinstance(kind, msgspec.inspect.StructType):
        return [kind]
    if isinstance(kind, msgspec.inspect.UnionType):
        return [t for t in kind.types if isinstance(t, msgspec.inspect.StructType)]
    return []


def numeric_keys() -> list[NumericKey]:
    """Every int or float key of every section of :class:`VagusConfig`, lists of tables too."""
    info = msgspec.inspect.type_info(VagusConfig)
    assert isinstance(info, msgspec.inspect.StructType)
    keys = []
    for section in info.fields:
        kind = section.type
        listed = isinstance(kind, msgspec.inspect.ListType)
        structs = _struct_types(
            kind.item_type if isinstance(kind, msgspec.inspect.ListType) else kind
        )
        for struct in structs:
            tag = struct.tag
            entry = None
            if listed:
                entry = {"kind": tag, **_MINIMAL[str(tag)]} if tag else {}
            for field in struct.fields:
                number = _numeric(field.type)
                if number is not None:
                    is_int = isinstance(number, msgspec.inspect.IntType)
                    keys.append(NumericKey(section.name, field.encode_name, is_int, entry))
    return keys


def _toml_value(value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _toml(key: NumericKey, value: object) -> str:
    if key.entry is None:
        return f"[{key.section}]\n{key.key} = {_toml_value(value)}\n"
    entry = {**key.entry, key.key: value}
    lines = [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
    return f"[[{key.section}]]\n" + "\n".join(lines) + "\n"


def _bad_values(key: NumericKey) -> list[object]:
    negative: float = -1e15 if f"{key.section}.{key.key}" in _NEGATIVE_ALLOWED else -1.0
    huge: float = 1e15
    if key.is_int:
        return [math.nan, math.inf, -math.inf, int(negative), int(huge)]
    return [math.nan, math.inf, -math.inf, negative, huge]


KEYS = numeric_keys()
CASES = [(key, value) for key in KEYS for value in _bad_values(key)]


def test_the_walk_finds_the_keys_that_matter() -> None:
    names = {key.name for key in KEYS}
    for expected in [
        "device_limits.min_gap_s",
        "device_limits.max_sessions_per_day",
        "windows.calibration_s",
        "stress_model.threshold",
        "policy.cooldown_s",
        "policy.quiet_hours_start",
        "kafka.session_timeout_ms",
        "spool.fsync_interval_s",
        "live.reconnect_cap_s",
        "outputs[led].pin",
        "outputs[vibroacoustic].sample_rate_hz",
        "controls[gpio_button].hold_s",
    ]:
        assert expected in names


@pytest.mark.parametrize(("key", "value"), CASES, ids=[f"{k.name}={v!r}" for k, v in CASES])
def test_every_numeric_key_refuses_nan_infinity_negative_and_huge(
    tmp_path: Path, key: NumericKey, value: object
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(_toml(key, value))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert key.key in message, message
    assert key.section in message, message
    assert "not valid TOML" not in message


def test_the_valid_entries_used_above_load(tmp_path: Path) -> None:
    """Otherwise a refusal above could be of the entry, not of the key varied."""
    path = tmp_path / "ok.toml"
    for key in KEYS:
        if key.entry is not None:
            lines = "\n".join(f"{k} = {_toml_value(v)}" for k, v in key.entry.items())
            path.write_text(f"[[{key.section}]]\n{lines}\n")
            load_config(path)


# ---- the same refusals from the objects themselves, outside any file ----

_DEVICE_NUMERIC = [
    f.name
    for f in dataclasses.fields(DeviceLimits)
    if typing.get_type_hints(DeviceLimits)[f.name] in (int, float)
]


def test_device_limits_numeric_fields_are_all_found() -> None:
    assert {"max_session_s", "min_gap_s", "max_sessions_per_day", "max_breaths_per_min"} <= set(
        _DEVICE_NUMERIC
    )


@pytest.mark.parametrize("name", _DEVICE_NUMERIC)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, 1e15])
def test_device_limits_refuse_every_impossible_number(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        DeviceLimits(**dict[str, Any]({name: value}))


@pytest.mark.parametrize("value", [(math.nan, 7), (22, math.inf), (-1, 7), (22, 10**15)])
def test_device_quiet_hours_refuse_impossible_hours(value: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="quiet_hours"):
        DeviceLimits(quiet_hours=value)  # type: ignore[arg-type]


_POLICY_NUMERIC = [
    name
    for name, kind in typing.get_type_hints(PolicySnapshot).items()
    if _numeric(msgspec.inspect.type_info(kind)) is not None
]


def test_every_numeric_policy_field_has_a_safe_range() -> None:
    assert set(_POLICY_NUMERIC) == set(SAFE_RANGES)


@pytest.mark.parametrize("name", _POLICY_NUMERIC)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, 1e15])
def test_policy_refuses_every_impossible_number(name: str, value: float) -> None:
    problems = policy_problems(PolicySnapshot(**dict[str, Any]({name: value})))
    assert any(name in problem for problem in problems), problems


# ---- accepted values keep their guarantees ----

_ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=300, deadline=None)
@given(
    min_gap_s=_ANY_FLOAT | st.floats(0, 3 * 3600),
    max_sessions_per_day=st.integers(-5, 200),
    gaps_s=st.lists(st.integers(1, 4 * 3600), min_size=1, max_size=40),
)
def test_an_accepted_device_limit_is_never_undercut(
    min_gap_s: float, max_sessions_per_day: int, gaps_s: list[int]
) -> None:
    try:
        limits = DeviceLimits(
            min_gap_s=min_gap_s, max_sessions_per_day=max_sessions_per_day, quiet_hours=None
        )
    except ValueError:
        assert not (
            0 <= min_gap_s <= MAX_GAP_S and 0 <= max_sessions_per_day <= MAX_SESSIONS_PER_DAY
        )
        return
    assert math.isfinite(limits.min_gap_s)
    interlock = Interlock(limits)
    now, starts = 0, []
    for gap_s in gaps_s:
        now += gap_s * S
        if interlock.refusal(command(now, duration_s=1), now) is None:
            interlock.record_start(now, 1)
            starts.append(now)
    for i, start in enumerate(starts):
        assert sum(1 for s in starts[: i + 1] if s > start - DAY_NS) <= max_sessions_per_day
        if i:
            assert start - starts[i - 1] >= min_gap_s * S


@settings(max_examples=100, deadline=None)
@given(min_gap_s=st.floats(0, 86_400))
def test_the_fail_safe_path_waits_one_accepted_gap_and_never_crashes(min_gap_s: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "interlock.json"
        path.write_text("{half a file")
        limits = DeviceLimits(min_gap_s=min_gap_s, quiet_hours=None)
        interlock = Interlock(limits, store=InterlockStore(path))
        after = math.ceil(min_gap_s * S)
        for before in [0, after // 2, after - 1] if after > 0 else []:
            assert "unreadable" in (interlock.refusal(command(before), before) or "")
        assert interlock.refusal(command(after), after) is None


def _episode(at_ns: int) -> StressEpisode:
    return StressEpisode(
        patient_id="p-0123456789ab",
        producer_id="t",
        gateway_time_ns=at_ns,
        episode_id=new_event_id(),
        phase="start",
        started_at_ns=at_ns,
        score=0.995,
        trigger_window_id=new_event_id(),
    )


@settings(max_examples=200, deadline=None)
@given(
    cooldown_s=_ANY_FLOAT | st.floats(500, 90_000),
    max_sessions_per_day=st.integers(-2, 12),
    session_duration_s=_ANY_FLOAT | st.floats(30, 1500),
    intensity=_ANY_FLOAT | st.floats(0, 1),
    gaps_s=st.lists(st.integers(60, 6 * 3600), min_size=1, max_size=30),
)
def test_an_accepted_policy_keeps_its_guarantees(
    cooldown_s: float,
    max_sessions_per_day: int,
    session_duration_s: float,
    intensity: float,
    gaps_s: list[int],
) -> None:
    policy = PolicySnapshot(
        cooldown_s=cooldown_s,
        max_sessions_per_day=max_sessions_per_day,
        session_duration_s=session_duration_s,
        intensity=intensity,
        quiet_hours_start=None,
        quiet_hours_end=None,
    )
    if policy_problems(policy):
        return
    for name, (low, high) in SAFE_RANGES.items():
        value = getattr(policy, name)
        assert value is None or (math.isfinite(value) and low <= value <= high)
    state = PatientLoopState(policy=policy)
    now, starts = NOON, []
    for gap_s in gaps_s:
        now += gap_s * S
        result = step(state, _episode(now), producer_id="t")
        if result.command is not None:
            parameters: SessionParameters = result.command.parameters
            assert (
                parameters.duration_s == session_duration_s <= SAFE_RANGES["session_duration_s"][1]
            )
            assert parameters.intensity == intensity <= SAFE_RANGES["intensity"][1]
            starts.append(now)
    for i, start in enumerate(starts):
        assert sum(1 for s in starts[: i + 1] if s > start - DAY_NS) <= max_sessions_per_day
        if i:
            assert start - starts[i - 1] >= cooldown_s * S
