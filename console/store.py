"""Writing what ingest reads: one partition's batch of records, and its next offset, atomically.

An event's rows are derived only when its ``event_id`` is stored for the first time, so a record
read twice (a restart after a crash, or the producer's own retry on another offset) changes
nothing. A record that is not a valid event is kept in ``ingest_errors`` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from console.db import Database
from console.holds import hold_limit
from stream.codec import decode_event
from stream.errors import SchemaError
from stream.events import (
    AnyEvent,
    FeatureWindow,
    GatewayHealth,
    InterventionCommand,
    InterventionOutcome,
    LoopDecision,
    SessionEvaluation,
    SignalQuality,
    SleepWakeEpoch,
    StressEpisode,
    StressScore,
    event_type_name,
)

#: Feature fields drawn on the timeline, by their name in ``Features``.
FEATURE_METRICS = ("heart_rate_bpm", "rmssd_ms", "scr_rate_per_min")
ENDED = ("completed", "aborted", "failed", "rejected")


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as ingest hands it over."""

    offset: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class BatchCounts:
    stored: int = 0
    repeated: int = 0
    errors: int = 0


def store_batch(db: Database, topic: str, partition: int, records: Sequence[Record]) -> BatchCounts:
    """Store ``records`` (consecutive, of one partition) and move its offset past the last,
    in one transaction."""
    stored = repeated = errors = 0
    with db.transaction():
        for record in records:
            try:
                event = decode_event(record.value or b"")
            except SchemaError as exc:
                _store_error(db, topic, partition, record, str(exc))
                errors += 1
                continue
            if _store_event(db, topic, partition, record, event):
                stored += 1
            else:
                repeated += 1
        if records:
            db.execute(
                "INSERT INTO offsets (topic, kafka_partition, next_offset) VALUES (?, ?, ?)"
                " ON CONFLICT (topic, kafka_partition)"
                " DO UPDATE SET next_offset = excluded.next_offset",
                (topic, partition, records[-1].offset + 1),
            )
    return BatchCounts(stored, repeated, errors)


def stored_offsets(db: Database) -> dict[tuple[str, int], int]:
    """The next offset to read of every topic-partition ingest has written."""
    rows = db.query("SELECT topic, kafka_partition, next_offset FROM offsets")
    return {(str(topic), int(part)): int(offset) for topic, part, offset in rows}


def _store_error(db: Database, topic: str, partition: int, record: Record, error: str) -> None:
    payload = (record.value or b"").decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    db.execute(
        "INSERT INTO ingest_errors (topic, kafka_partition, kafka_offset, error, payload)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING",
        (topic, partition, record.offset, error[:2000], payload),
    )


def _store_event(db: Database, topic: str, partition: int, record: Record, event: AnyEvent) -> bool:
    """Insert the event and, the first time only, what it adds to the other tables."""
    body = msgspec.json.encode(event).decode()
    inserted = db.execute(
        "INSERT INTO events (event_id, patient_id, kind, time_ns, topic, kafka_partition,"
        " kafka_offset, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
        (
            event.event_id,
            event.patient_id,
            event_type_name(type(event)),
            event.gateway_time_ns,
            topic,
            partition,
            record.offset,
            body,
        ),
    )
    if inserted != 1:
        return False
    _derive(db, event)
    return True


def _derive(db: Database, event: AnyEvent) -> None:
    if isinstance(event, FeatureWindow):
        for metric in FEATURE_METRICS:
            value = getattr(event.features, metric)
            if value is not None:
                _measure(db, event, metric, float(value))
    elif isinstance(event, StressScore):
        if event.score is not None:
            _measure(db, event, "stress_score", event.score)
    elif isinstance(event, SignalQuality):
        db.execute(
            "INSERT INTO signal_quality (event_id, patient_id, time_ns, stream, kind, coverage)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.event_id,
                event.patient_id,
                event.gateway_time_ns,
                event.stream,
                event.kind,
                event.coverage,
            ),
        )
    elif isinstance(event, StressEpisode):
        _episode(db, event)
    elif isinstance(event, SleepWakeEpoch):
        db.execute(
            "INSERT INTO sleep_epochs (event_id, patient_id, start_ns, end_ns, state)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                event.event_id,
                event.patient_id,
                event.epoch_start_ns,
                event.epoch_start_ns + event.epoch_s * 10**9,
                event.state,
            ),
        )
    elif isinstance(event, LoopDecision):
        _decision(db, event)
    elif isinstance(event, GatewayHealth):
        _gateway_health(db, event)
    else:
        _session_step(db, event)


def _gateway_health(db: Database, event: GatewayHealth) -> None:
    """Keep the patient's newest report (by gateway time: a late redelivery changes nothing),
    reduced to its weakest battery and the backlog."""
    known = [d for d in event.devices if d.battery_percent is not None]
    weakest = min(known, key=lambda d: d.battery_percent or 0, default=None)
    db.execute(
        "INSERT INTO gateway_health (patient_id, event_id, time_ns, battery_percent,"
        " battery_device_id, spool_events, spool_oldest_age_s, broker_refusal)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (patient_id) DO UPDATE SET"
        " event_id = excluded.event_id, time_ns = excluded.time_ns,"
        " battery_percent = excluded.battery_percent,"
        " battery_device_id = excluded.battery_device_id,"
        " spool_events = excluded.spool_events,"
        " spool_oldest_age_s = excluded.spool_oldest_age_s,"
        " broker_refusal = excluded.broker_refusal"
        " WHERE excluded.time_ns >= gateway_health.time_ns",
        (
            event.patient_id,
            event.event_id,
            event.gateway_time_ns,
            None if weakest is None else weakest.battery_percent,
            None if weakest is None else weakest.device_id,
            event.spool_events,
            event.spool_oldest_age_s,
            event.broker_refusal,
        ),
    )


def _measure(db: Database, event: AnyEvent, metric: str, value: float) -> None:
    db.execute(
        "INSERT INTO measurements (event_id, metric, patient_id, time_ns, value)"
        " VALUES (?, ?, ?, ?, ?)",
        (event.event_id, metric, event.patient_id, event.gateway_time_ns, value),
    )


def _episode(db: Database, event: StressEpisode) -> None:
    """An episode's start and end fold into one row, in either arrival order."""
    db.execute(
        "INSERT INTO episodes (episode_id, patient_id) VALUES (?, ?)"
        " ON CONFLICT (episode_id) DO NOTHING",
        (event.episode_id, event.patient_id),
    )
    db.execute(
        "UPDATE episodes SET started_ns = ? WHERE episode_id = ?",
        (event.started_at_ns, event.episode_id),
    )
    if event.phase == "end":
        db.execute(
            "UPDATE episodes SET ended_ns = ? WHERE episode_id = ?",
            (event.gateway_time_ns, event.episode_id),
        )


def _decision(db: Database, event: LoopDecision) -> None:
    db.execute(
        "INSERT INTO decisions (event_id, patient_id, time_ns, episode_id, trigger_event_id,"
        " action, hold_reason, hold_limit, score, policy_version, command_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.event_id,
            event.patient_id,
            event.gateway_time_ns,
            event.episode_id,
            event.trigger_event_id,
            event.action,
            event.hold_reason,
            hold_limit(event.hold_reason),
            event.score,
            event.policy_version,
            event.command_id,
        ),
    )


def _session_step(db: Database, event: AnyEvent) -> None:
    """Commands, outcomes and evaluations fold into one row per session, in any arrival order."""
    upsert = (
        "INSERT INTO sessions (command_id, patient_id, modality) VALUES (?, ?, ?)"
        " ON CONFLICT (command_id) DO NOTHING"
    )
    if isinstance(event, InterventionCommand) and event.action == "start":
        db.execute(upsert, (event.event_id, event.patient_id, event.modality))
        db.execute(
            "UPDATE sessions SET requested_ns = ?, duration_s = ?, policy_version = ?"
            " WHERE command_id = ?",
            (
                event.gateway_time_ns,
                event.parameters.duration_s,
                event.policy_version,
                event.event_id,
            ),
        )
    elif isinstance(event, InterventionOutcome):
        db.execute(upsert, (event.command_id, event.patient_id, event.modality))
        time_ns = event.gateway_time_ns
        if event.status == "started":
            db.execute(
                "UPDATE sessions SET started_ns = ? WHERE command_id = ?",
                (time_ns, event.command_id),
            )
        if event.status in ENDED:
            db.execute(
                "UPDATE sessions SET ended_ns = ? WHERE command_id = ?", (time_ns, event.command_id)
            )
        db.execute(
            "UPDATE sessions SET status = ?, status_ns = ?"
            " WHERE command_id = ? AND (status_ns IS NULL OR status_ns <= ?)",
            (event.status, time_ns, event.command_id, time_ns),
        )
    elif isinstance(event, SessionEvaluation):
        db.execute(upsert, (event.command_id, event.patient_id, event.modality))
        evaluation = msgspec.json.encode(
            {
                "outcome": event.outcome,
                "metrics": event.metrics,
                "effectiveness": event.effectiveness,
            }
        ).decode()
        db.execute(
            "UPDATE sessions SET evaluation = ? WHERE command_id = ?",
            (evaluation, event.command_id),
        )
