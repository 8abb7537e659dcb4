"""Device-side hard limits, checked before a session starts and while it runs.

These limits are deliberately independent of the closed-loop policy: a bug, a stale command or a
compromised worker upstream must not be able to make a device exceed them.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import zoneinfo
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from stream.events import InterventionCommand

log = logging.getLogger(__name__)

DAY_NS = 86_400 * 1_000_000_000
#: Upper bounds of the device's own limits (vagus.config's [device_limits] uses the same).
MAX_SESSION_S = 3600.0
MAX_SESSIONS_PER_DAY = 100
MAX_GAP_S = 86_400.0


def _within(value: float, low: float, high: float) -> bool:
    """``low <= value <= high`` for a finite number; False for NaN, infinity and non-numbers."""
    return isinstance(value, int | float) and math.isfinite(value) and low <= value <= high


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """Hard caps of one output device."""

    max_session_s: float = 1200.0
    max_intensity: float = 0.8
    max_sessions_per_day: int = 6
    min_gap_s: float = 900.0
    modalities: frozenset[str] = frozenset({"paced_breathing", "vibroacoustic"})
    #: Paced-breathing rates the device will cue, whatever the policy (resonance rate included).
    min_breaths_per_min: float = 4.0
    max_breaths_per_min: float = 10.0
    #: Local hours [start, end) in ``timezone`` when the device stays silent, whatever it is told.
    quiet_hours: tuple[int, int] | None = (22, 7)
    timezone: str = "UTC"
    allow_during_sleep: bool = False

    def __post_init__(self) -> None:
        # Every comparison is written so that NaN fails it: a NaN limit once disabled the gap.
        if not (_within(self.max_session_s, 0, MAX_SESSION_S) and self.max_session_s > 0):
            raise ValueError(f"max_session_s must be in (0, {MAX_SESSION_S:g}]")
        if not _within(self.max_intensity, 0, 1):
            raise ValueError("max_intensity must be in [0, 1]")
        if not (
            _within(self.min_breaths_per_min, 3, 12)
            and _within(self.max_breaths_per_min, self.min_breaths_per_min, 12)
        ):
            raise ValueError(
                "min_breaths_per_min and max_breaths_per_min must satisfy"
                " 3 <= min <= max <= 12 per minute"
            )
        if not (
            isinstance(self.max_sessions_per_day, int)
            and 0 <= self.max_sessions_per_day <= MAX_SESSIONS_PER_DAY
        ):
            raise ValueError(f"max_sessions_per_day must be within 0..{MAX_SESSIONS_PER_DAY}")
        if not _within(self.min_gap_s, 0, MAX_GAP_S):
            raise ValueError(f"min_gap_s must be finite and within [0, {MAX_GAP_S:g}]")
        if self.quiet_hours is not None and not (
            len(self.quiet_hours) == 2
            and all(isinstance(h, int) and 0 <= h <= 23 for h in self.quiet_hours)
        ):
            raise ValueError("quiet_hours must be two hours within 0..23")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone {self.timezone!r} is unknown") from exc

    def in_quiet_hours(self, time_ns: int) -> bool:
        if self.quiet_hours is None or self.quiet_hours[0] == self.quiet_hours[1]:
            return False
        start, end = self.quiet_hours
        hour = dt.datetime.fromtimestamp(time_ns / 1e9, tz=zoneinfo.ZoneInfo(self.timezone)).hour
        return start <= hour < end if start < end else hour >= start or hour < end


class InterlockState(msgspec.Struct, kw_only=True):
    """What the interlock must remember across restarts: recent starts and the busy horizon."""

    format: int = 1
    starts_ns: list[int] = msgspec.field(default_factory=list)
    busy_until_ns: int = 0
    #: The patient said "not now": silent until then (kept across restarts like the rest).
    quiet_until_ns: int = 0


class InterlockStore:
    """The interlock's state in a small JSON file, replaced atomically on every change.

    A device that forgot its history on a reboot could start a second session minutes after the
    first; so the history lives on the gateway's disk, independently of anything upstream.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> InterlockState | None:
        """The saved state; ``None`` when there is none; raises ValueError when it is unreadable."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return msgspec.json.decode(data, type=InterlockState)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ValueError(f"{self.path}: unreadable interlock state: {exc}") from exc

    def save(self, state: InterlockState) -> None:
        """Replace the file atomically, owner-only (0600): it is the patient's session history."""
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a stale temporary file may have been created wider
        with os.fdopen(descriptor, "wb") as sink:
            sink.write(msgspec.json.encode(state))
            sink.flush()
            os.fsync(sink.fileno())
        temporary.replace(self.path)


@dataclass
class Interlock:
    """Accepts or refuses commands against :class:`DeviceLimits` and the device's own history."""

    limits: DeviceLimits
    store: InterlockStore | None = None
    _starts_ns: deque[int] = field(default_factory=deque)
    _busy_until_ns: int = 0
    _quiet_until_ns: int = 0
    #: The gateway's own view of sleep, set from its sleep/wake epochs.
    asleep: bool = False
    #: Set when saved state could not be read: refuse everything until a full gap has passed.
    _fail_safe: bool = False
    _fail_safe_until_ns: int | None = None

    def __post_init__(self) -> None:
        if self.store is None:
            return
        try:
            state = self.store.load()
        except ValueError:
            log.error("interlock state unreadable: failing safe for one minimum gap")
            self._fail_safe = True
            return
        if state is not None:
            self._starts_ns = deque(sorted(state.starts_ns))
            self._busy_until_ns = state.busy_until_ns
            self._quiet_until_ns = state.quiet_until_ns

    def refusal(self, command: InterventionCommand, now_ns: int) -> str | None:
        """Why ``command`` must not run now, or ``None`` when it may."""
        limits = self.limits
        parameters = command.parameters
        while self._starts_ns and self._starts_ns[0] <= now_ns - DAY_NS:
            self._starts_ns.popleft()
        if self._fail_safe:
            if self._fail_safe_until_ns is None:
                self._fail_safe_until_ns = now_ns + _seconds_ns(limits.min_gap_s)
            if now_ns < self._fail_safe_until_ns:
                return "the device's session history was unreadable; waiting one minimum gap"
        checks = [
            (command.action != "start", f"unsupported action {command.action}"),
            (command.modality not in limits.modalities, f"modality {command.modality} disabled"),
            (now_ns > command.expires_at_ns, "command expired before it arrived"),
            (limits.in_quiet_hours(now_ns), "quiet hours on this device"),
            (
                self.asleep and not limits.allow_during_sleep,
                "the patient is asleep (the gateway's own sleep detection)",
            ),
            (now_ns < self._busy_until_ns, "a session is already running"),
            (now_ns < self._quiet_until_ns, "the patient said not now"),
            # Written as "not within" so that a NaN parameter is refused, never let through.
            (
                not 0 < parameters.duration_s <= limits.max_session_s,
                f"duration {parameters.duration_s:g} s exceeds {limits.max_session_s:g} s",
            ),
            (
                not limits.min_breaths_per_min
                <= parameters.breaths_per_min
                <= limits.max_breaths_per_min,
                f"breathing rate {parameters.breaths_per_min:g}/min outside "
                f"[{limits.min_breaths_per_min:g}, {limits.max_breaths_per_min:g}]",
            ),
            (
                not 0 <= parameters.intensity <= limits.max_intensity,
                f"intensity {parameters.intensity:g} exceeds {limits.max_intensity:g}",
            ),
            (
                len(self._starts_ns) >= limits.max_sessions_per_day,
                f"{limits.max_sessions_per_day} sessions in the last 24 h already",
            ),
            (
                bool(self._starts_ns)
                and not now_ns - self._starts_ns[-1] >= _seconds_ns(limits.min_gap_s),
                f"less than {limits.min_gap_s:g} s since the last session",
            ),
        ]
        return next((why for failed, why in checks if failed), None)

    def record_start(self, now_ns: int, duration_s: float) -> None:
        self._starts_ns.append(now_ns)
        self._busy_until_ns = now_ns + _seconds_ns(duration_s)
        self._save()

    def record_end(self, now_ns: int) -> None:
        self._busy_until_ns = min(self._busy_until_ns, now_ns)
        self._save()

    def quiet_until(self, until_ns: int) -> None:
        """Refuse every session before ``until_ns`` (the patient said "not now")."""
        self._quiet_until_ns = max(self._quiet_until_ns, until_ns)
        self._save()

    def _save(self) -> None:
        if self.store is not None:
            self.store.save(
                InterlockState(
                    starts_ns=list(self._starts_ns),
                    busy_until_ns=self._busy_until_ns,
                    quiet_until_ns=self._quiet_until_ns,
                )
            )


def _seconds_ns(seconds: float) -> int:
    """``seconds`` in ns for the interlock's arithmetic, rounded up (never a shorter wait); a full
    day when it is not a finite number of seconds in [0, 1 day], so this can never crash."""
    if not _within(seconds, 0, MAX_GAP_S):
        return DAY_NS
    return math.ceil(seconds * 1e9)
