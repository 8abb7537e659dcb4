"""Device-side hard limits, checked before a session starts and while it runs.

These limits are deliberately independent of the closed-loop policy: a bug, a stale command or a
compromised worker upstream must not be able to make a device exceed them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from stream.events import InterventionCommand

DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """Hard caps of one output device."""

    max_session_s: float = 1200.0
    max_intensity: float = 0.8
    max_sessions_per_day: int = 6
    min_gap_s: float = 900.0
    modalities: frozenset[str] = frozenset({"paced_breathing", "vibroacoustic"})

    def __post_init__(self) -> None:
        if not 0 < self.max_session_s <= 3600:
            raise ValueError("max_session_s must be in (0, 3600]")
        if not 0 <= self.max_intensity <= 1:
            raise ValueError("max_intensity must be in [0, 1]")
        if self.max_sessions_per_day < 0 or self.min_gap_s < 0:
            raise ValueError("max_sessions_per_day and min_gap_s must not be negative")


@dataclass
class Interlock:
    """Accepts or refuses commands against :class:`DeviceLimits` and the device's own history."""

    limits: DeviceLimits
    _starts_ns: deque[int] = field(default_factory=deque)
    _busy_until_ns: int = 0

    def refusal(self, command: InterventionCommand, now_ns: int) -> str | None:
        """Why ``command`` must not run now, or ``None`` when it may."""
        limits = self.limits
        parameters = command.parameters
        while self._starts_ns and self._starts_ns[0] <= now_ns - DAY_NS:
            self._starts_ns.popleft()
        checks = [
            (command.action != "start", f"unsupported action {command.action}"),
            (command.modality not in limits.modalities, f"modality {command.modality} disabled"),
            (now_ns > command.expires_at_ns, "command expired before it arrived"),
            (now_ns < self._busy_until_ns, "a session is already running"),
            (
                parameters.duration_s > limits.max_session_s,
                f"duration {parameters.duration_s:g} s exceeds {limits.max_session_s:g} s",
            ),
            (
                parameters.intensity > limits.max_intensity,
                f"intensity {parameters.intensity:g} exceeds {limits.max_intensity:g}",
            ),
            (
                len(self._starts_ns) >= limits.max_sessions_per_day,
                f"{limits.max_sessions_per_day} sessions in the last 24 h already",
            ),
            (
                bool(self._starts_ns) and now_ns - self._starts_ns[-1] < limits.min_gap_s * 1e9,
                f"less than {limits.min_gap_s:g} s since the last session",
            ),
        ]
        return next((why for failed, why in checks if failed), None)

    def record_start(self, now_ns: int, duration_s: float) -> None:
        self._starts_ns.append(now_ns)
        self._busy_until_ns = now_ns + int(duration_s * 1e9)

    def record_end(self, now_ns: int) -> None:
        self._busy_until_ns = min(self._busy_until_ns, now_ns)
