"""Configuration: one TOML file, validated as a whole, with safe defaults for the demo.

Every section maps onto the settings object of the package that owns it; nothing here holds a
secret (SASL passwords come from the environment variable the Kafka section names).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from closedloop.policy import policy_problems
from hardware.limits import DeviceLimits
from stream.events import PolicySnapshot
from stream.settings import KafkaSettings


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


class WindowSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the gateway cuts streams into feature windows."""

    window_s: float = 60.0
    hop_s: float = 10.0
    lateness_s: float = 2.0
    calibration_s: float = 300.0

    def __post_init__(self) -> None:
        if not 10 <= self.window_s <= 600:
            raise ValueError("window_s must be within [10, 600]")
        if not 0 < self.hop_s <= self.window_s:
            raise ValueError("hop_s must be positive and at most window_s")
        if not 0 <= self.lateness_s <= 60:
            raise ValueError("lateness_s must be within [0, 60]")
        if self.calibration_s < self.window_s:
            raise ValueError("calibration_s must cover at least one window")


class DeviceLimitSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_session_s: float = 1200.0
    max_intensity: float = 0.8
    max_sessions_per_day: int = 6
    min_gap_s: float = 900.0
    quiet_hours_start: int | None = 22
    quiet_hours_end: int | None = 7
    timezone: str = "UTC"
    allow_during_sleep: bool = False

    def to_limits(self) -> DeviceLimits:
        quiet = None
        if self.quiet_hours_start is not None and self.quiet_hours_end is not None:
            quiet = (self.quiet_hours_start, self.quiet_hours_end)
        return DeviceLimits(
            max_session_s=self.max_session_s,
            max_intensity=self.max_intensity,
            max_sessions_per_day=self.max_sessions_per_day,
            min_gap_s=self.min_gap_s,
            quiet_hours=quiet,
            timezone=self.timezone,
            allow_during_sleep=self.allow_during_sleep,
        )


class VagusConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kafka: KafkaSettings = msgspec.field(default_factory=KafkaSettings)
    windows: WindowSettings = msgspec.field(default_factory=WindowSettings)
    device_limits: DeviceLimitSettings = msgspec.field(default_factory=DeviceLimitSettings)
    policy: PolicySnapshot = msgspec.field(default_factory=PolicySnapshot)


def load_config(path: Path | None) -> VagusConfig:
    """Read ``path`` (TOML, or JSON when it ends in .json; None gives the defaults).

    Raises :class:`ConfigError` saying what is wrong.
    """
    if path is None:
        return VagusConfig()
    try:
        text = path.read_text(encoding="utf-8")
        raw = msgspec.json.decode(text) if path.suffix == ".json" else tomllib.loads(text)
        config = msgspec.convert(raw, VagusConfig)
        config.device_limits.to_limits()  # raises ValueError for impossible limits
        problems = policy_problems(config.policy)
        if problems:
            raise ValueError("policy: " + "; ".join(problems))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, msgspec.DecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML or JSON: {exc}") from exc
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return config
