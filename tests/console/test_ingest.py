"""Ingest from a broker (embedded and Apache Kafka) into SQLite and PostgreSQL: idempotent,
broken records kept, and a console killed mid-stream resumes with no gap and no repeat."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from console import Database, create_schema, ingest_until_caught_up, open_database
from console import ingest as ingest_module
from console.store import store_batch
from console.svg import utc
from ingest.transport.backoff import Backoff
from stream.events import AnyEvent
from stream.settings import KafkaSettings
from stream.topics import create_topic_set
from tests.console.events import PATIENT, encoded, score, story, window
from tests.console.server import Client, add_people, console_server, logged_in

pytestmark = [pytest.mark.broker]
ROOT = Path(__file__).resolve().parents[2]
BROKEN = [b"not an event", b'{"type":"feature_window","patient_id":"nobody"}']


async def _produce(settings: KafkaSettings, messages: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(acks="all", **settings.client_kwargs())
    await producer.start()
    try:
        for topic, value in messages:
            await producer.send(topic, value, key=PATIENT.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _messages(settings: KafkaSettings, events: list[AnyEvent]) -> list[tuple[str, bytes]]:
    topics = settings.topics
    return [
        (topics.for_event(type(e)), data) for e, data in zip(events, encoded(events), strict=True)
    ]


def _count(db: Database, table: str) -> int:
    return int(db.query(f"SELECT COUNT(*) FROM {table}")[0][0])  # noqa: S608 - our names


def _read_offsets(db: Database) -> dict[tuple[str, int], list[int]]:
    """Every offset stored (as an event or an ingest error), by topic-partition, in order."""
    rows = db.query(
        "SELECT topic, kafka_partition, kafka_offset FROM events UNION ALL"
        " SELECT topic, kafka_partition, kafka_offset FROM ingest_errors"
    )
    found: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in rows:
        found.setdefault((str(topic), int(partition)), []).append(int(offset))
    return {key: sorted(offsets) for key, offsets in found.items()}


def _assert_no_gap_or_repeat(db: Database) -> int:
    """Each partition's offsets are exactly 0..next-1 (once each); returns how many."""
    offsets = _read_offsets(db)
    nexts = {(str(t), int(p)): int(n) for t, p, n in db.query("SELECT * FROM offsets")}
    assert set(offsets) == set(nexts)
    for key, found in offsets.items():
        assert found == list(range(nexts[key])), f"{key}: gap or repeat"
    return sum(nexts.values())


async def test_ingest_is_idempotent_and_keeps_broken_records(
    kafka: KafkaSettings, database: str
) -> None:
    await create_topic_set(kafka)
    events = story()
    features = kafka.topics.name("features")
    await _produce(kafka, _messages(kafka, events) + [(features, b) for b in BROKEN])
    with open_database(database) as db:
        create_schema(db)
        first = await ingest_until_caught_up(kafka, db)
        counts = [_count(db, "events"), _count(db, "sessions")]
        again = await ingest_until_caught_up(kafka, db)
        assert (first.stored, first.errors) == (len(events), len(BROKEN))
        assert (again.stored, again.repeated, again.errors) == (0, 0, 0)  # resumed at the end
        assert counts == [len(events), 1]
        assert [_count(db, "events"), _count(db, "sessions")] == counts
        assert _assert_no_gap_or_repeat(db) == len(events) + len(BROKEN)


def _ingest_process(config: Path, database: str, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "vagus",
        "--config",
        str(config),
        "console",
        "ingest",
        "--db",
        database,
        "--fetch-size",
        "7",
    ]
    with log.open("wb") as stderr:
        return subprocess.Popen(command, cwd=ROOT, env=env, stderr=stderr)


def _stored(database: str) -> int:
    with open_database(database) as db:
        try:
            return int(db.query("SELECT COUNT(*) FROM events")[0][0])
        except Exception:  # noqa: BLE001 - the tables may not exist yet
            return 0


@pytest.mark.slow
async def test_killed_mid_stream_resumes_without_gap_or_repeat(
    kafka: KafkaSettings, database: str, tmp_path: Path
) -> None:
    await create_topic_set(kafka)
    config = tmp_path / "vagus.toml"
    config.write_text(
        f'[kafka]\nbootstrap = "{kafka.bootstrap}"\ntopic_prefix = "{kafka.topic_prefix}"\n'
        "fetch_max_wait_ms = 20\n"
    )
    events: list[AnyEvent] = [e for i in range(1500) for e in (window(i), score(i, 0.5))]
    messages = _messages(kafka, events)
    messages[700:700] = [(kafka.topics.name("stress"), b) for b in BROKEN]
    await _produce(kafka, messages[:400])
    log = tmp_path / "ingest.log"
    process = _ingest_process(config, database, log)
    try:
        sent = 400
        while _stored(database) < 100:  # killed while it is reading and more is arriving
            assert process.poll() is None, log.read_text()
            await _produce(kafka, messages[sent : sent + 50])
            sent += 50
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    at_kill = _stored(database)
    await _produce(kafka, messages[sent:])
    assert 0 < at_kill < len(events)
    with open_database(database) as db:
        result = await ingest_until_caught_up(kafka, db)
        stored = int(db.query("SELECT COUNT(*) FROM events")[0][0])
        assert stored == len(events)
        assert result.stored == len(events) - at_kill  # nothing read twice after the restart
        assert result.repeated == 0
        assert _assert_no_gap_or_repeat(db) == len(messages)
        assert int(db.query("SELECT COUNT(*) FROM ingest_errors")[0][0]) == len(BROKEN)


async def _wait_for(client: Client, path: str, text: str, timeout_s: float = 60.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        _, page = await asyncio.to_thread(client.get, path)
        if text in page:
            return page
        assert asyncio.get_running_loop().time() < deadline, f"{text!r} never appeared"
        await asyncio.sleep(0.5)


async def test_serve_ingests_while_it_serves(kafka: KafkaSettings, tmp_path: Path) -> None:
    await create_topic_set(kafka)
    config = tmp_path / "vagus.toml"
    config.write_text(
        f'[kafka]\nbootstrap = "{kafka.bootstrap}"\ntopic_prefix = "{kafka.topic_prefix}"\n'
    )
    await _produce(kafka, _messages(kafka, [window(0), score(0, 0.4)]))
    database = str(tmp_path / "console.db")
    add_people(database)
    with console_server(database, log=tmp_path / "serve.log", config=config) as url:
        engineer = logged_in(url, "engineer")
        await _wait_for(engineer, "/", f'data-patient="{PATIENT}"')
        await _produce(kafka, _messages(kafka, [window(500)]))  # later data arrives
        await _wait_for(engineer, "/", utc(window(500).gateway_time_ns))


async def test_serve_s_ingest_starts_again_after_a_database_failure(
    kafka: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first ingest dies on a database error midway; the next resumes from the offsets."""
    from console import serve

    await create_topic_set(kafka)
    events = story()
    await _produce(kafka, _messages(kafka, events))
    database = str(tmp_path / "console.db")
    with open_database(database) as db:
        create_schema(db)
    real_store = store_batch
    calls = {"n": 0}

    def failing_once(db: Database, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real_store(db, *args)

    monkeypatch.setattr(ingest_module, "store_batch", failing_once)
    monkeypatch.setattr(serve, "Backoff", lambda **_: Backoff(base_s=0.05, cap_s=0.05))
    stop = asyncio.Event()
    task = asyncio.create_task(serve._ingest(kafka, database, stop))
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while _stored(database) < len(events):
            assert asyncio.get_running_loop().time() < deadline, "never caught up"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert calls["n"] > 2  # it failed once, then went on
    with open_database(database) as db:
        assert _assert_no_gap_or_repeat(db) == len(events)
