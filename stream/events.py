"""Event schemas, version 1.

Every event is a msgspec Struct tagged by ``type`` and carries the envelope fields of
:class:`Event`. Two clocks appear on every event, on purpose:

* ``gateway_time_ns`` is *event time* on the gateway's timeline (Unix ns): when the data an event
  describes happened. Replay keeps the recording's original times, so a replayed stream and a live
  one produce the same event times. ``device_time_ns`` is the same instant on the device's own
  clock when one exists, or ``None`` for events that no device clock stands behind.
* ``produced_at_ns`` is *processing time*: the producing process's wall clock when it created
  the event. Latency is measured with it; decisions are never made with it.

Adding an optional field with a default is a compatible change and keeps the version; anything
else bumps the event type's ``SCHEMA_VERSION`` and the consumer's supported set.
"""

from __future__ import annotations

import time
from typing import Annotated, ClassVar, Literal

import msgspec

from stream.ids import DEVICE_ID_PATTERN, PATIENT_ID_PATTERN, new_event_id

PatientId = Annotated[str, msgspec.Meta(pattern=PATIENT_ID_PATTERN)]
DeviceId = Annotated[str, msgspec.Meta(pattern=DEVICE_ID_PATTERN)]
EventId = Annotated[str, msgspec.Meta(min_length=8, max_length=64)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Modality = Literal["paced_breathing", "vibroacoustic"]
ScoreQuality = Literal["ok", "calibrating", "poor_signal", "motion", "missing_features"]
CoverageKind = Literal["ok", "degraded", "gap"]
OutcomeStatus = Literal["requested", "started", "completed", "aborted", "failed", "rejected"]


def now_ns() -> int:
    """Processing time for ``produced_at_ns``."""
    return time.time_ns()


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Envelope shared by every event type."""

    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = 1
    event_id: EventId = msgspec.field(default_factory=new_event_id)
    patient_id: PatientId
    producer_id: Label
    gateway_time_ns: int
    device_time_ns: int | None = None
    produced_at_ns: int = msgspec.field(default_factory=now_ns)
    #: ``<key id>.<MAC>`` of the gateway key that signed the record (stream.signing). Signing
    #: appends it to the encoded bytes; unset (and absent from the JSON) on unsigned events.
    sig: Annotated[str, msgspec.Meta(max_length=128)] | msgspec.UnsetType = msgspec.UNSET


class RawNotification(msgspec.Struct, frozen=True, array_like=True):
    """One notification inside a raw batch: ``[gateway_time_ns, device_time_ns, payload]``."""

    gateway_time_ns: int
    device_time_ns: int | None
    payload: bytes


class RawNotificationBatch(Event, frozen=True, kw_only=True, tag="raw_notification_batch"):
    """Undecoded notifications of one characteristic, for archiving or off-gateway decoding."""

    device_id: DeviceId
    profile: Label
    characteristic: Label
    notifications: list[RawNotification]


class Features(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Per-window physiological features; ``None`` means not computable from this window."""

    heart_rate_bpm: float | None = None
    mean_nn_ms: float | None = None
    rmssd_ms: float | None = None
    sdnn_ms: float | None = None
    beats: int = 0
    #: Share of the window's RR intervals judged artefacts (Lipponen-Tarvainen: corrected).
    rr_artifact_fraction: Fraction | None = None
    #: The mean of the device's own heart-rate readings (stream ``hr``): a strap's, or an optical
    #: band's or armband's; the name predates those devices and stays for the schema's sake.
    strap_heart_rate_bpm: float | None = None
    scl_us: float | None = None
    scr_count: int = 0
    scr_rate_per_min: float | None = None
    activity_enmo_g: NonNegative | None = None
    motion_fraction: Fraction | None = None


class FeatureWindow(Event, frozen=True, kw_only=True, tag="feature_window"):
    """Features of one sliding window; ``gateway_time_ns`` is the window's end."""

    window_start_ns: int
    window_end_ns: int
    features: Features
    coverage: dict[str, Fraction]
    #: The stress model's inputs for this window (raw, before the per-patient z-score); a
    #: feature the window could not define is absent.
    model_features: dict[str, float] = msgspec.field(default_factory=dict)


class StressScore(Event, frozen=True, kw_only=True, tag="stress_score"):
    """A stress estimate for one window, with the inputs that produced it.

    ``quality`` other than ``"ok"`` means the score must not drive an intervention.
    """

    window_id: EventId
    window_end_ns: int
    score: Probability | None
    method: Label
    quality: ScoreQuality
    components: dict[str, float] = msgspec.field(default_factory=dict)
    #: The patient's decision threshold on ``score`` when the window was scored (model only).
    threshold: Probability | None = None


class StressEpisode(Event, frozen=True, kw_only=True, tag="stress_episode"):
    """Start or end of a stress episode, found by hysteresis over consecutive scores."""

    episode_id: EventId
    phase: Literal["start", "end"]
    started_at_ns: int
    score: Probability
    trigger_window_id: EventId
    components: dict[str, float] = msgspec.field(default_factory=dict)


class SleepWakeEpoch(Event, frozen=True, kw_only=True, tag="sleep_wake_epoch"):
    """Sleep or wake for one epoch of accelerometer data."""

    epoch_start_ns: int
    epoch_s: Annotated[int, msgspec.Meta(gt=0)]
    state: Literal["sleep", "wake"]
    method: Label
    activity_count: NonNegative


class SignalQuality(Event, frozen=True, kw_only=True, tag="signal_quality"):
    """Coverage of one stream over a span; ``kind="gap"`` marks missing data explicitly."""

    device_id: DeviceId
    stream: Label
    span_start_ns: int
    span_end_ns: int
    coverage: Fraction
    kind: CoverageKind
    detail: str = ""


class StreamGap(Event, frozen=True, kw_only=True, tag="stream_gap"):
    """Data of one stream is missing between two gateway times: the link was lost, or the
    stream's sample times jumped. Sent when the gap ends (``gateway_time_ns`` = ``gap_end_ns``)
    or when the gateway stops during one; data on either side is never stitched together."""

    device_id: DeviceId
    stream: Label
    gap_start_ns: int
    gap_end_ns: int
    reason: Literal["disconnected", "sample_time_jump"]


class StreamStarted(Event, frozen=True, kw_only=True, tag="stream_started"):
    """A stream's first samples reached the gateway's pipeline (``gateway_time_ns``: the first
    sample's time). Sent at once, so a clinician sees a sensor streaming (and a gateway whose
    broker is down has something to keep) before the stream's first window closes."""

    device_id: DeviceId
    stream: Label
    rate_hz: Annotated[float, msgspec.Meta(gt=0, le=100_000)] | None = None


Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]


class DeviceBattery(msgspec.Struct, frozen=True, kw_only=True):
    """One configured device as the gateway last saw it (pseudonymous id only)."""

    device_id: DeviceId
    #: Battery Level (0x2A19) in percent; ``None`` when the device has no Battery Service (or
    #: was not read yet: found, still connecting). A disconnected device keeps its last value.
    battery_percent: Percent | None
    connected: bool


class GatewayHealth(Event, frozen=True, kw_only=True, tag="gateway_health"):
    """The gateway's own state: each device's battery and link, and what waits in its spool.

    Sent when a device connects and then periodically, so a clinician sees a flat strap or a
    stuck gateway (a growing backlog, a broker refusing its writes) before the data stop.
    ``gateway_time_ns`` is when the gateway took the reading; no device clock stands behind it.
    """

    devices: tuple[DeviceBattery, ...]
    #: Events waiting in the gateway's spool (and in memory, when the disk refused them).
    spool_events: Annotated[int, msgspec.Meta(ge=0)]
    #: How long the oldest waiting event has waited; ``None`` with an empty spool.
    spool_oldest_age_s: NonNegative | None = None
    #: The error name while the broker refuses this gateway's writes (an ACL, a quota).
    broker_refusal: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class SessionParameters(msgspec.Struct, frozen=True, kw_only=True):
    """What the output device should render."""

    duration_s: Annotated[float, msgspec.Meta(gt=0)]
    breaths_per_min: Annotated[float, msgspec.Meta(ge=3, le=12)] = 6.0
    inhale_fraction: Annotated[float, msgspec.Meta(ge=0.2, le=0.6)] = 0.4
    intensity: Fraction = 0.5


class DecisionReason(msgspec.Struct, frozen=True, kw_only=True):
    """Why a command was issued: the inputs and the rule, for the clinician's audit trail."""

    rule: Label
    trigger_event_id: EventId
    trigger_window_id: EventId | None = None
    score: Probability | None = None
    values: dict[str, float] = msgspec.field(default_factory=dict)


class InterventionCommand(Event, frozen=True, kw_only=True, tag="intervention_command"):
    """Start or stop a calming session on the patient's output device."""

    action: Literal["start", "stop"]
    modality: Modality
    parameters: SessionParameters
    reason: DecisionReason
    policy_version: Annotated[int, msgspec.Meta(ge=0)]
    expires_at_ns: int


class LoopDecision(Event, frozen=True, kw_only=True, tag="loop_decision"):
    """What the closed loop decided about one input during a stress episode, and why.

    Holds are logged as well as sessions: a clinician sees why nothing happened, and a replay
    at maximum speed waits for these to keep decisions causal.
    """

    trigger_event_id: EventId
    episode_id: EventId
    action: Literal["start_session", "hold"]
    command_id: EventId | None = None
    hold_reason: str = ""
    score: Probability | None = None
    policy_version: Annotated[int, msgspec.Meta(ge=0)]


class InterventionOutcome(Event, frozen=True, kw_only=True, tag="intervention_outcome"):
    """A step of a session's life, reported by the device that runs it."""

    command_id: EventId
    status: OutcomeStatus
    modality: Modality
    detail: str = ""
    metrics: dict[str, float] = msgspec.field(default_factory=dict)


class PatientControl(Event, frozen=True, kw_only=True, tag="patient_control"):
    """The patient pressed a control: stop the running session, or "not now".

    Sent by the gateway on the outcomes topic, after it has already acted (stopped the session,
    silenced its own interlock until ``quiet_until_ns``), so the closed loop holds too: for
    "not now", no session for the policy's cooldown from ``gateway_time_ns``.
    """

    action: Literal["stop", "not_now"]
    #: Which control: ``gpio-button``, ``terminal``, ``cli``, ``band-button``.
    source: Label
    #: The session it stopped, if one was running.
    command_id: EventId | None = None
    #: Until when the gateway's own interlock refuses sessions (``not_now`` only).
    quiet_until_ns: int | None = None


class SessionEvaluation(Event, frozen=True, kw_only=True, tag="session_evaluation"):
    """Did it help? One session's physiology before, during and after, from the feature windows.

    ``metrics`` holds medians per span (``rmssd_ms_before``, ``heart_rate_bpm_during``, ...),
    changes after versus before, and how many windows each span had. ``effectiveness`` is the
    patient's running summary for this modality after this session.
    """

    command_id: EventId
    modality: Modality
    outcome: OutcomeStatus
    session_start_ns: int
    session_end_ns: int
    metrics: dict[str, float]
    effectiveness: dict[str, float] = msgspec.field(default_factory=dict)


class PolicySnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """One patient's closed-loop policy as carried on the wire.

    The wire constraints are the outer bounds any consumer accepts; the closed loop's safe ranges
    (closedloop.policy) are narrower and are what a clinician's change is checked against.
    """

    score_threshold: Probability = 0.7
    cooldown_s: Annotated[float, msgspec.Meta(ge=0)] = 1800.0
    max_sessions_per_day: Annotated[int, msgspec.Meta(ge=0)] = 4
    session_duration_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    intensity: Fraction = 0.5
    modalities: Annotated[tuple[Modality, ...], msgspec.Meta(min_length=1)] = ("paced_breathing",)
    randomisation_probability: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    breaths_per_min: Annotated[float, msgspec.Meta(ge=3, le=12)] = 6.0
    inhale_fraction: Annotated[float, msgspec.Meta(ge=0.2, le=0.6)] = 0.4
    #: The patient's measured resonance rate; when set, paced breathing uses it, not the default.
    resonance_breaths_per_min: Annotated[float, msgspec.Meta(ge=3, le=12)] | None = None
    #: When set, a trigger with no signal-quality report this recent holds as stale.
    signal_quality_max_age_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    quiet_hours_start: Annotated[int, msgspec.Meta(ge=0, le=23)] | None = 22
    quiet_hours_end: Annotated[int, msgspec.Meta(ge=0, le=23)] | None = 7
    timezone: Label = "UTC"
    allow_during_sleep: bool = False
    command_ttl_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0


class PolicyVersion(Event, frozen=True, kw_only=True, tag="policy_version"):
    """A numbered, immutable version of one patient's policy."""

    version: Annotated[int, msgspec.Meta(ge=1)]
    policy: PolicySnapshot
    changed_by: Label
    change_reason: str = ""
    #: The change's audit entry, carried in the same record so that a version and its audit
    #: cannot be separated; a version without one is never current (closedloop.policy_log).
    audit: AuditEntry | None = None


class AuditEntry(Event, frozen=True, kw_only=True, tag="audit_entry"):
    """Who did what to whose settings, with the old and new values."""

    actor: Label
    action: Label
    target: Label
    old: dict[str, str] = msgspec.field(default_factory=dict)
    new: dict[str, str] = msgspec.field(default_factory=dict)
    reason: str = ""


class DeadLetter(Event, frozen=True, kw_only=True, tag="dead_letter"):
    """A message that failed validation or handling, kept with the reason instead of dropped.

    The payload is kept whole up to ``stream.gate.MAX_DEAD_LETTER_PAYLOAD`` bytes; a larger one
    is cut there (``payload_truncated``), with its full size and SHA-256, so the dead letter
    itself always fits the broker's request size.
    """

    source_topic: Label
    partition: int
    offset: int
    key: bytes | None
    payload: bytes
    error: str
    stage: Literal["produce", "consume"]
    payload_size: Annotated[int, msgspec.Meta(ge=0)] = 0
    payload_sha256: str = ""
    payload_truncated: bool = False


AnyEvent = (
    RawNotificationBatch
    | FeatureWindow
    | StressScore
    | StressEpisode
    | SleepWakeEpoch
    | SignalQuality
    | StreamGap
    | StreamStarted
    | GatewayHealth
    | InterventionCommand
    | LoopDecision
    | InterventionOutcome
    | PatientControl
    | SessionEvaluation
    | PolicyVersion
    | AuditEntry
    | DeadLetter
)

EVENT_TYPES: tuple[type[Event], ...] = (
    RawNotificationBatch,
    FeatureWindow,
    StressScore,
    StressEpisode,
    SleepWakeEpoch,
    SignalQuality,
    StreamGap,
    StreamStarted,
    GatewayHealth,
    InterventionCommand,
    LoopDecision,
    InterventionOutcome,
    PatientControl,
    SessionEvaluation,
    PolicyVersion,
    AuditEntry,
    DeadLetter,
)


def event_type_name(event_type: type[Event]) -> str:
    """The wire tag of an event class (``"stress_score"`` for :class:`StressScore`)."""
    tag = event_type.__struct_config__.tag
    assert isinstance(tag, str)
    return tag
