"""Configuration: one TOML file, validated as a whole, with safe defaults for the demo.

Every section maps onto the settings object of the package that owns it; nothing here holds a
secret (SASL passwords come from the environment variable the Kafka section names).

Every number is bounded by a msgspec constraint (``Meta(ge=..., le=...)``), checked when the file
is converted: NaN, infinity and out-of-range values are refused with the section and key in the
message (``Expected `float` >= 0.0 - at `$.device_limits.min_gap_s` ``). ``__post_init__`` keeps
the checks that relate two keys. Then :func:`vagus.safety_check.safety_conflicts` refuses a
policy the device could never run.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from closedloop.policy import policy_problems
from hardware.limits import MAX_SESSION_S, MAX_SESSIONS_PER_DAY, DeviceLimits
from stream.events import PolicySnapshot
from stream.ids import PATIENT_ID_PATTERN
from stream.settings import KafkaSettings
from stream.spool import SpoolSettings
from vagus.config_console import ConsoleSettings
from vagus.config_outputs import ControlSettings, OutputSettings, outputs_problem
from vagus.safety_check import safety_conflicts
from vagus.scoring_calibration import MAX_ABS_INTERCEPT, MAX_SLOPE, PatientCalibration


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


#: One day: no duration, gap or timeout in the configuration is meaningfully longer.
DAY_S = 86_400.0


def _within(low: float, high: float) -> msgspec.Meta:
    """Inclusive bounds; msgspec refuses NaN and infinity against them on decode."""
    return msgspec.Meta(ge=low, le=high)


class WindowSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the gateway cuts streams into feature windows."""

    window_s: Annotated[float, _within(10, 600)] = 60.0
    hop_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    lateness_s: Annotated[float, _within(0, 60)] = 2.0
    #: The personal baseline is learnt over the first this-many seconds. 20 min: the stress
    #: model was evaluated with WESAD's ~20-minute baseline as calibration, and shorter ones
    #: (5-10 min) scored clearly worse in the training project's comparison (docs/model-card.md).
    calibration_s: Annotated[float, _within(10, DAY_S)] = 1200.0

    def __post_init__(self) -> None:
        if not 0 < self.hop_s <= self.window_s:
            raise ValueError("hop_s must be positive and at most window_s")
        if not self.calibration_s >= self.window_s:
            raise ValueError("calibration_s must cover at least one window")


class StressModelSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The patient's knobs on the shared stress model: no retraining needed to change them."""

    #: Decision threshold on the (recalibrated) probability; None: the model's own (sidecar).
    threshold: Annotated[float, msgspec.Meta(gt=0, lt=1)] | None = None
    #: Platt correction on the model's logit (1 and 0: none); see vagus.scoring_calibration.
    platt_slope: Annotated[float, msgspec.Meta(gt=0, le=MAX_SLOPE)] = 1.0
    platt_intercept: Annotated[float, _within(-MAX_ABS_INTERCEPT, MAX_ABS_INTERCEPT)] = 0.0
    #: Usable windows the baseline needs; calibration runs on past calibration_s until it has them.
    min_calibration_windows: Annotated[int, _within(2, 10_000)] = 60
    #: An episode ends when the probability stays this far below the threshold.
    episode_hysteresis: Annotated[float, msgspec.Meta(gt=0, lt=0.5)] = 0.2
    #: How the patient's baseline is estimated, and so which bundled model scores them:
    #: "mean_sd" or "median_mad" (each model's twin trained on median/MAD calibrations, for a
    #: calibration that may not be at rest; docs/model-card.md).
    baseline: Literal["mean_sd", "median_mad"] = "mean_sd"
    #: What the model reads: "without_heart" (the default model: EDA and motion, the one
    #: validated across data sets on what the gateway computes) or "with_heart" (its twin
    #: that also reads heart rate and RMSSD, trained on wrist-pulse beats: for a patient whose
    #: heart data come from wrist or arm pulse; windows with ECG beats are refused, as it was
    #: never validated on them; docs/model-card.md).
    inputs: Literal["with_heart", "without_heart"] = "without_heart"

    def __post_init__(self) -> None:
        PatientCalibration(  # raises ValueError naming the impossible value
            threshold=0.5 if self.threshold is None else self.threshold,
            platt_slope=self.platt_slope,
            platt_intercept=self.platt_intercept,
        )


Hour = Annotated[int, _within(0, 23)]


class DeviceLimitSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[device_limits]``: the interlock's caps (hardware.limits.DeviceLimits, same bounds)."""

    max_session_s: Annotated[float, msgspec.Meta(gt=0, le=MAX_SESSION_S)] = 1200.0
    max_intensity: Annotated[float, _within(0, 1)] = 0.8
    max_sessions_per_day: Annotated[int, _within(0, MAX_SESSIONS_PER_DAY)] = 6
    min_gap_s: Annotated[float, _within(0, DAY_S)] = 900.0
    quiet_hours_start: Hour | None = 22
    quiet_hours_end: Hour | None = 7
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


class DeviceSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One device the patient wears (``[[devices]]``): its address or advertised-name prefix,
    the profile that decodes it, and a label that leaves the gateway (so no address in it)."""

    profile: str
    address: str | None = None
    name_prefix: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
        from ingest.errors import IngestError  # noqa: PLC0415 (bleak loads only when used)
        from ingest.transport.targets import DeviceTarget  # noqa: PLC0415

        try:
            DeviceTarget(self.profile, self.address, self.name_prefix, self.label)
        except IngestError as exc:
            raise ValueError(f"devices: {exc}") from exc


class LiveSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The live gateway (``[live]``): whose devices, where it keeps state, how it reconnects."""

    patient_id: str | None = None
    #: Holds the device-id secret (device-id.key, mode 0600); never inside the repository.
    state_dir: str = "~/.local/state/vagus"
    #: "bleak" (BlueZ on a Pi); "virtual" runs against in-process virtual sensors (development).
    backend: Literal["bleak", "virtual"] = "bleak"
    scan_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
    reconnect_cap_s: Annotated[float, _within(1, 3600)] = 60.0
    #: Seconds between gateway_health reports (batteries re-read, spool backlog); one is also
    #: sent whenever a device connects (vagus.health).
    health_interval_s: Annotated[float, _within(5, 86400)] = 900.0
    #: Prometheus metrics on 127.0.0.1 at this port (docs/observability.md); None: off.
    metrics_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None

    def __post_init__(self) -> None:
        if self.patient_id is not None and not re.fullmatch(PATIENT_ID_PATTERN, self.patient_id):
            raise ValueError("live: patient_id must be a pseudonym like p-7k3m9q2x4v8w")


class EnrolmentSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[enrolment]``: the closed-loop worker's registry of gateway keys (docs/enrolment.md).

    The worker acts only on events signed by a key enrolled there for the event's patient;
    there is deliberately no setting that turns the check off.
    """

    #: Owner-only JSON written by `vagus enrol`; holds every gateway's secret.
    registry_file: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] = (
        "~/.local/state/vagus-closedloop/enrolment.json"
    )

    def registry_path(self) -> Path:
        return Path(self.registry_file).expanduser()


class VagusConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kafka: KafkaSettings = msgspec.field(default_factory=KafkaSettings)
    windows: WindowSettings = msgspec.field(default_factory=WindowSettings)
    stress_model: StressModelSettings = msgspec.field(default_factory=StressModelSettings)
    device_limits: DeviceLimitSettings = msgspec.field(default_factory=DeviceLimitSettings)
    policy: PolicySnapshot = msgspec.field(default_factory=PolicySnapshot)
    spool: SpoolSettings = msgspec.field(default_factory=SpoolSettings)
    devices: list[DeviceSettings] = msgspec.field(default_factory=list)
    live: LiveSettings = msgspec.field(default_factory=LiveSettings)
    enrolment: EnrolmentSettings = msgspec.field(default_factory=EnrolmentSettings)
    #: What renders a session (several at once run it together); none: the simulated pacer.
    outputs: list[OutputSettings] = msgspec.field(default_factory=list)
    #: The patient's physical controls (buttons).
    controls: list[ControlSettings] = msgspec.field(default_factory=list)
    #: The clinician console's database, for the enrolment check of `vagus policy set`.
    console: ConsoleSettings = msgspec.field(default_factory=ConsoleSettings)

    def __post_init__(self) -> None:
        problem = outputs_problem(self.outputs, self.controls)
        if problem is not None:
            raise ValueError(problem)


def parse_config(raw: Any) -> VagusConfig:
    """The configuration in ``raw`` (decoded TOML or JSON), validated as a whole.

    Raises ValueError (msgspec.ValidationError is one) naming the section and the key.
    """
    config = msgspec.convert(raw, VagusConfig)
    try:
        config.device_limits.to_limits()  # raises ValueError for impossible limits
    except ValueError as exc:
        raise ValueError(f"device_limits: {exc}") from exc
    problems = policy_problems(config.policy)
    if problems:
        raise ValueError("policy: " + "; ".join(problems))
    refusals, _warnings = safety_conflicts(config)
    if refusals:
        raise ValueError("; ".join(refusals))
    return config


def load_config(path: Path | None) -> VagusConfig:
    """Read ``path`` (TOML, or JSON when it ends in .json; None gives the defaults).

    Raises :class:`ConfigError` saying what is wrong.
    """
    if path is None:
        return VagusConfig()
    try:
        text = path.read_text(encoding="utf-8")
        raw = msgspec.json.decode(text) if path.suffix == ".json" else tomllib.loads(text)
        config = parse_config(raw)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:  # a ValueError too: caught first
        raise ConfigError(f"{path}: not valid TOML or JSON: {exc}") from exc
    except msgspec.ValidationError as exc:  # a DecodeError too: caught before it
        raise ConfigError(f"{path}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML or JSON: {exc}") from exc
    return config
