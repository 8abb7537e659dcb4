"""Start-up check that the policy and the device's own limits can both be met.

The closed loop's policy and the gateway's interlock are independent on purpose, so nothing else
notices when they contradict each other: a policy asking for 25-minute sessions on a device that
allows 20 would have every command refused, without a word, for as long as the gateway ran.
A *refusal* is a combination under which no session could ever run (the configuration is
refused at load); a *warning* is a device stricter than the policy in part, which caps or skips
some of what the policy allows (``vagus doctor`` shows it).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from closedloop.decision import in_quiet_hours as policy_quiet
from closedloop.policy import paced_breathing_rate
from hardware.limits import DeviceLimits
from stream.events import PolicySnapshot
from vagus.config_outputs import OutputSettings, SimulatedOutput

if TYPE_CHECKING:
    from vagus.config import VagusConfig

#: Quarter hours over a winter and a summer day: quiet hours in two time zones (and their DST)
#: are compared at every local hour either can start or end.
_SAMPLES_NS = [
    int((day + dt.timedelta(minutes=15 * step)).timestamp() * 1e9)
    for day in (dt.datetime(2026, 1, 15, tzinfo=dt.UTC), dt.datetime(2026, 7, 15, tzinfo=dt.UTC))
    for step in range(2 * 24 * 4)
]


def safety_conflicts(config: VagusConfig) -> tuple[list[str], list[str]]:
    """(refusals, warnings) for ``config``'s ``[policy]`` against its ``[device_limits]``."""
    return policy_device_conflicts(config.policy, config.device_limits.to_limits(), config.outputs)


def policy_device_conflicts(
    policy: PolicySnapshot, limits: DeviceLimits, outputs: list[OutputSettings] | None = None
) -> tuple[list[str], list[str]]:
    """(refusals, warnings), each naming the ``[policy]`` key and the device key it meets."""
    refusals: list[str] = []
    warnings: list[str] = []
    never = "the device would refuse every session"
    if policy.session_duration_s > limits.max_session_s:
        refusals.append(
            f"[policy] session_duration_s={policy.session_duration_s:g} exceeds "
            f"[device_limits] max_session_s={limits.max_session_s:g}: {never}"
        )
    if policy.intensity > limits.max_intensity:
        refusals.append(
            f"[policy] intensity={policy.intensity:g} exceeds "
            f"[device_limits] max_intensity={limits.max_intensity:g}: {never}"
        )
    rate = paced_breathing_rate(policy)
    if not limits.min_breaths_per_min <= rate <= limits.max_breaths_per_min:
        key = "resonance_breaths_per_min" if policy.resonance_breaths_per_min else "breaths_per_min"
        refusals.append(
            f"[policy] {key}={rate:g} is outside the device's breathing range "
            f"[{limits.min_breaths_per_min:g}, {limits.max_breaths_per_min:g}] "
            f"(min_breaths_per_min, max_breaths_per_min): {never}"
        )
    if limits.max_sessions_per_day == 0:
        refusals.append(f"[device_limits] max_sessions_per_day=0: {never}")
    elif limits.max_sessions_per_day < policy.max_sessions_per_day:
        warnings.append(
            f"[device_limits] max_sessions_per_day={limits.max_sessions_per_day} caps "
            f"[policy] max_sessions_per_day={policy.max_sessions_per_day}"
        )
    if policy.max_sessions_per_day == 0:
        warnings.append("[policy] max_sessions_per_day=0: the closed loop starts no session")
    _modalities(policy, limits, refusals, warnings)
    _quiet_hours(policy, limits, refusals, warnings)
    if limits.min_gap_s > policy.cooldown_s:
        warnings.append(
            f"[device_limits] min_gap_s={limits.min_gap_s:g} is longer than "
            f"[policy] cooldown_s={policy.cooldown_s:g}: the device refuses sessions the "
            "policy allows"
        )
    if policy.allow_during_sleep and not limits.allow_during_sleep:
        warnings.append(
            "[policy] allow_during_sleep=true but [device_limits] allow_during_sleep=false: "
            "the device refuses sessions while the gateway sees sleep"
        )
    for index, output in enumerate(outputs or []):
        if isinstance(output, SimulatedOutput):
            continue
        if output.max_intensity < policy.intensity:
            warnings.append(
                f"outputs[{index}] ({output.kind}) max_intensity={output.max_intensity:g} caps "
                f"[policy] intensity={policy.intensity:g}"
            )
    return refusals, warnings


def _modalities(
    policy: PolicySnapshot, limits: DeviceLimits, refusals: list[str], warnings: list[str]
) -> None:
    disabled = [m for m in policy.modalities if m not in limits.modalities]
    enabled = ", ".join(sorted(limits.modalities)) or "none"
    if len(disabled) == len(policy.modalities):
        refusals.append(
            f"[policy] modalities={list(policy.modalities)} are all disabled on the device "
            f"(device modalities: {enabled}): the device would refuse every session"
        )
    elif disabled:
        warnings.append(
            f"[policy] modalities {disabled} are disabled on the device (device modalities: "
            f"{enabled}): sessions chosen with them are refused"
        )


def _quiet_hours(
    policy: PolicySnapshot, limits: DeviceLimits, refusals: list[str], warnings: list[str]
) -> None:
    device = [limits.in_quiet_hours(t) for t in _SAMPLES_NS]
    loop = [policy_quiet(policy, t) for t in _SAMPLES_NS]
    keys = (
        "[device_limits] quiet_hours_start/quiet_hours_end"
        f" ({_hours(limits.quiet_hours)}, {limits.timezone})"
    )
    if all(d or p for d, p in zip(device, loop, strict=True)):
        refusals.append(
            f"{keys} and [policy] quiet_hours_start/quiet_hours_end "
            f"({_hours((policy.quiet_hours_start, policy.quiet_hours_end))}, {policy.timezone}) "
            "together cover the whole day: no session could ever run"
        )
        return
    silenced = sum(d and not p for d, p in zip(device, loop, strict=True))
    if silenced:
        hours = silenced / len(_SAMPLES_NS) * 24
        warnings.append(
            f"{keys} silence about {hours:g} h a day that [policy] quiet_hours_start/"
            "quiet_hours_end allow"
        )


def _hours(quiet: tuple[int | None, int | None] | None) -> str:
    if quiet is None or quiet[0] is None or quiet[1] is None or quiet[0] == quiet[1]:
        return "none"
    return f"{quiet[0]:02d}-{quiet[1]:02d} h"
