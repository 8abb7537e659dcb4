"""Policy defaults and the safe ranges a clinician's change must stay inside.

The wire type is :class:`stream.events.PolicySnapshot`; this module adds the narrower, clinical
limits. A change outside them is refused with the reason, never clamped silently.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

import msgspec

from stream.events import PolicySnapshot

DEFAULT_POLICY = PolicySnapshot()

#: Inclusive safe ranges, one per numeric field of PolicySnapshot (a test holds that); the
#: comparison refuses NaN and infinity, so no value can switch a limit off.
SAFE_RANGES: dict[str, tuple[float, float]] = {
    "score_threshold": (0.5, 0.99),
    "cooldown_s": (600.0, 86_400.0),
    "max_sessions_per_day": (0, 8),
    "session_duration_s": (60.0, 1200.0),
    "intensity": (0.0, 0.8),
    "breaths_per_min": (4.0, 10.0),
    #: Resonance breathing lies near 6 per minute in adults (4.5-7 in published studies); a
    #: measured value outside this is more likely an estimation error than a physiology.
    "resonance_breaths_per_min": (4.0, 7.5),
    "inhale_fraction": (0.3, 0.5),
    "command_ttl_s": (5.0, 300.0),
    "randomisation_probability": (0.0, 0.5),
    "signal_quality_max_age_s": (60.0, 86_400.0),
    "quiet_hours_start": (0, 23),
    "quiet_hours_end": (0, 23),
}


class PolicyError(ValueError):
    """A policy (or a change to one) outside the safe ranges; the message lists every reason."""


def policy_problems(policy: PolicySnapshot) -> list[str]:
    """Every reason ``policy`` is unsafe or impossible; empty when it is acceptable."""
    problems = []
    for name, (low, high) in SAFE_RANGES.items():
        value = getattr(policy, name)
        if value is None:
            continue  # optional fields (resonance rate, quality age) may stay unset
        if not low <= value <= high:
            problems.append(f"{name}={value:g} is outside the safe range [{low:g}, {high:g}]")
    if len(set(policy.modalities)) != len(policy.modalities):
        problems.append("modalities must not repeat")
    quiet = (policy.quiet_hours_start, policy.quiet_hours_end)
    if (quiet[0] is None) != (quiet[1] is None):
        problems.append("quiet_hours_start and quiet_hours_end must both be set or both unset")
    try:
        zoneinfo.ZoneInfo(policy.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone {policy.timezone!r} is unknown")
    return problems


def paced_breathing_rate(policy: PolicySnapshot) -> float:
    """Breaths per minute for a session: the resonance rate when known, else the default."""
    if policy.resonance_breaths_per_min is not None:
        return policy.resonance_breaths_per_min
    return policy.breaths_per_min


def validated(policy: PolicySnapshot) -> PolicySnapshot:
    problems = policy_problems(policy)
    if problems:
        raise PolicyError("; ".join(problems))
    return policy


def with_changes(policy: PolicySnapshot, changes: dict[str, Any]) -> PolicySnapshot:
    """Apply ``changes`` (already typed) and validate the result as a whole."""
    unknown = sorted(set(changes) - set(PolicySnapshot.__struct_fields__))
    if unknown:
        raise PolicyError(f"unknown policy keys: {', '.join(unknown)}")
    merged = msgspec.structs.asdict(policy) | changes
    try:
        candidate = msgspec.convert(merged, PolicySnapshot)
    except msgspec.ValidationError as exc:
        raise PolicyError(str(exc)) from exc
    return validated(candidate)
