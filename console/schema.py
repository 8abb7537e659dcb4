"""The console's tables, created idempotently on either engine.

``events`` keeps every event once (by ``event_id``) with the typed columns the pages select on
and its JSON; the other tables are what the pages draw, derived from an event only the first time
its id is stored. ``offsets`` holds each topic-partition's next offset and is written in the same
transaction as the rows read below it; ``ingest_errors`` keeps what could not be read.
The account tables (``console.accounts``) are created here too.
"""

from __future__ import annotations

from console.accounts import account_tables
from console.db import Database, DatabaseError
from console.registry import registry_tables

SCHEMA_VERSION = 1


def _tables(db: Database) -> list[str]:
    big, real, text, auto_id = (
        db.dialect.big_int,
        db.dialect.real,
        db.dialect.text,
        db.dialect.auto_id,
    )
    return [
        f"""CREATE TABLE IF NOT EXISTS console_meta (
            key {text} PRIMARY KEY, value {text} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS events (
            event_id {text} PRIMARY KEY,
            patient_id {text} NOT NULL,
            kind {text} NOT NULL,
            time_ns {big} NOT NULL,
            topic {text} NOT NULL,
            kafka_partition INTEGER NOT NULL,
            kafka_offset {big} NOT NULL,
            body {text} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS events_patient_time ON events (patient_id, time_ns)",
        f"""CREATE TABLE IF NOT EXISTS measurements (
            event_id {text} NOT NULL,
            metric {text} NOT NULL,
            patient_id {text} NOT NULL,
            time_ns {big} NOT NULL,
            value {real} NOT NULL,
            PRIMARY KEY (event_id, metric))""",
        """CREATE INDEX IF NOT EXISTS measurements_patient_metric_time
            ON measurements (patient_id, metric, time_ns)""",
        f"""CREATE TABLE IF NOT EXISTS signal_quality (
            event_id {text} PRIMARY KEY,
            patient_id {text} NOT NULL,
            time_ns {big} NOT NULL,
            stream {text} NOT NULL,
            kind {text} NOT NULL,
            coverage {real} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS quality_patient_time ON signal_quality (patient_id, time_ns)",
        f"""CREATE TABLE IF NOT EXISTS sessions (
            command_id {text} PRIMARY KEY,
            patient_id {text} NOT NULL,
            modality {text} NOT NULL,
            requested_ns {big},
            duration_s {real},
            policy_version INTEGER,
            status {text},
            status_ns {big},
            started_ns {big},
            ended_ns {big},
            evaluation {text})""",
        "CREATE INDEX IF NOT EXISTS sessions_patient ON sessions (patient_id)",
        f"""CREATE TABLE IF NOT EXISTS episodes (
            episode_id {text} PRIMARY KEY,
            patient_id {text} NOT NULL,
            started_ns {big},
            ended_ns {big})""",
        "CREATE INDEX IF NOT EXISTS episodes_patient ON episodes (patient_id, started_ns)",
        f"""CREATE TABLE IF NOT EXISTS sleep_epochs (
            event_id {text} PRIMARY KEY,
            patient_id {text} NOT NULL,
            start_ns {big} NOT NULL,
            end_ns {big} NOT NULL,
            state {text} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS sleep_patient_time ON sleep_epochs (patient_id, start_ns)",
        f"""CREATE TABLE IF NOT EXISTS decisions (
            event_id {text} PRIMARY KEY,
            patient_id {text} NOT NULL,
            time_ns {big} NOT NULL,
            episode_id {text} NOT NULL,
            trigger_event_id {text} NOT NULL,
            action {text} NOT NULL,
            hold_reason {text} NOT NULL,
            hold_limit {text},
            score {real},
            policy_version INTEGER NOT NULL,
            command_id {text})""",
        "CREATE INDEX IF NOT EXISTS decisions_patient_time ON decisions (patient_id, time_ns)",
        # The latest gateway_health per patient (newest by gateway time): the patient list's
        # battery and spool backlog. Added without a schema version: an older database gains it.
        f"""CREATE TABLE IF NOT EXISTS gateway_health (
            patient_id {text} PRIMARY KEY,
            event_id {text} NOT NULL,
            time_ns {big} NOT NULL,
            battery_percent INTEGER,
            battery_device_id {text},
            spool_events {big} NOT NULL,
            spool_oldest_age_s {real},
            broker_refusal {text})""",
        f"""CREATE TABLE IF NOT EXISTS offsets (
            topic {text} NOT NULL,
            kafka_partition INTEGER NOT NULL,
            next_offset {big} NOT NULL,
            PRIMARY KEY (topic, kafka_partition))""",
        f"""CREATE TABLE IF NOT EXISTS ingest_errors (
            id {auto_id},
            topic {text} NOT NULL,
            kafka_partition INTEGER NOT NULL,
            kafka_offset {big} NOT NULL,
            error {text} NOT NULL,
            payload {text} NOT NULL,
            UNIQUE (topic, kafka_partition, kafka_offset))""",
        *registry_tables(big, text),
    ]


def create_schema(db: Database) -> None:
    """Create the tables that are missing; refuse a database of another schema version."""
    with db.transaction():
        for statement in [*_tables(db), *account_tables(db)]:
            db.execute(statement)
        db.execute(
            "INSERT INTO console_meta (key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO NOTHING",
            (str(SCHEMA_VERSION),),
        )
        found = db.query("SELECT value FROM console_meta WHERE key = 'schema_version'")
    if found[0][0] != str(SCHEMA_VERSION):
        raise SchemaVersionError(
            f"the console database has schema version {found[0][0]}, this console reads"
            f" version {SCHEMA_VERSION}"
        )


class SchemaVersionError(DatabaseError):
    """The database was written by a console of another schema version."""
