"""State that survives: kill -9 the worker mid-stream, restart it, and it decides as if nothing
had happened; the same with two workers sharing the load and one of them killed."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from closedloop.state_store import PatientSnapshot, read_partition
from stream.codec import decode_event
from stream.events import (
    AnyEvent,
    InterventionCommand,
    LoopDecision,
    SessionEvaluation,
    StressEpisode,
    StressScore,
)
from stream.settings import KafkaSettings
from stream.topics import ensure_topics
from tests.closedloop.test_evaluation import T0, _outcome, _score, _window
from tests.conftest import isolated_settings
from tests.helpers import PATIENT, EnrolledGateway, enrol_test_gateway

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000
MORNING = int(dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC).timestamp() * 1e9)
PATIENTS = [f"p-{i:012d}" for i in range(8)]
SESSION_COMMAND = "c-0123456789abcdef"


def _inputs() -> list[StressEpisode | StressScore]:
    """Per patient: episodes every 20 minutes with scores inside them, over six hours."""
    events: list[StressEpisode | StressScore] = []
    for p, patient in enumerate(PATIENTS):
        for e in range(18):
            start = MORNING + (e * 1200 + p * 7) * S
            episode_id = f"ep-{p:02d}-{e:03d}-00000000"
            events.append(
                StressEpisode(
                    event_id=f"start-{p:02d}-{e:03d}-0000",
                    patient_id=patient,
                    producer_id="test",
                    gateway_time_ns=start,
                    episode_id=episode_id,
                    phase="start",
                    started_at_ns=start,
                    score=0.6 + 0.02 * ((p + e) % 19),
                    trigger_window_id=episode_id,
                )
            )
            for k in range(1, 4):
                events.append(
                    StressScore(
                        event_id=f"score-{p:02d}-{e:03d}-{k}",
                        patient_id=patient,
                        producer_id="test",
                        gateway_time_ns=start + k * 10 * S,
                        window_id=f"window-{p:02d}-{e:03d}-{k}",
                        window_end_ns=start + k * 10 * S,
                        score=0.75 + 0.05 * k,
                        method="t",
                        quality="ok",
                    )
                )
            events.append(
                StressEpisode(
                    event_id=f"end-{p:02d}-{e:03d}-00000",
                    patient_id=patient,
                    producer_id="test",
                    gateway_time_ns=start + 60 * S,
                    episode_id=episode_id,
                    phase="end",
                    started_at_ns=start,
                    score=0.2,
                    trigger_window_id=episode_id,
                )
            )
    return sorted(events, key=lambda event: event.gateway_time_ns)


EXPECTED_DECISIONS = len(PATIENTS) * 18 * 4  # each episode start and the three scores inside


class Workers:
    def __init__(self, kafka: KafkaSettings, tmp_path: Path) -> None:
        self.config = tmp_path / f"{kafka.topic_prefix}.json"
        self.enrolled = enrol_test_gateway(tmp_path / kafka.topic_prefix)
        self.config.write_bytes(msgspec.json.encode(self.enrolled.config(kafka)))
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "vagus", "--config", str(self.config), "closedloop"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _prepare(kafka: KafkaSettings) -> KafkaSettings:
    kafka = msgspec.structs.replace(kafka, fetch_max_wait_ms=20)
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    await ensure_topics(admin, kafka.topics.all(), partitions=4, replication_factor=1)
    await admin.close()
    return kafka


async def _produce(
    kafka: KafkaSettings, events: list[StressEpisode | StressScore], enrolled: EnrolledGateway
) -> None:
    producer = AIOKafkaProducer(acks="all", **kafka.client_kwargs())
    await producer.start()
    try:
        for event in events:
            await producer.send(
                kafka.topics.name("stress"), enrolled.sign(event), key=event.patient_id.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


class Outputs:
    """Reads decisions and commands as they come; keeps each id once, checking repeats agree."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.by_id: dict[str, AnyEvent] = {}
        self.repeats = 0

    async def until(self, decisions: int, timeout_s: float = 90) -> None:
        consumer = AIOKafkaConsumer(
            self.kafka.topics.name("decisions"),
            self.kafka.topics.name("commands"),
            auto_offset_reset="earliest",
            **self.kafka.client_kwargs(),
        )
        await consumer.start()
        try:
            async with asyncio.timeout(timeout_s):
                while self.decisions() < decisions:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        for record in records:
                            self._add(decode_event(record.value or b""))
        finally:
            await consumer.stop()

    def _add(self, event: AnyEvent) -> None:
        known = self.by_id.get(event.event_id)
        if known is not None:
            self.repeats += 1
            assert _essence(known) == _essence(event), "a repeated id decided differently"
        self.by_id[event.event_id] = event

    def decisions(self) -> int:
        return sum(isinstance(e, LoopDecision) for e in self.by_id.values())

    def essence(self) -> dict[str, tuple[object, ...]]:
        return {event_id: _essence(e) for event_id, e in self.by_id.items()}


def _essence(event: AnyEvent) -> tuple[object, ...]:
    if isinstance(event, LoopDecision):
        return (
            "decision",
            event.trigger_event_id,
            event.action,
            event.hold_reason,
            event.command_id,
        )
    assert isinstance(event, InterventionCommand)
    return ("command", event.reason.trigger_event_id, event.modality, event.gateway_time_ns)


async def _uninterrupted(kafka: KafkaSettings, tmp_path: Path) -> Outputs:
    kafka = await _prepare(kafka)
    workers = Workers(kafka, tmp_path)
    await _produce(kafka, _inputs(), workers.enrolled)
    workers.start()
    outputs = Outputs(kafka)
    try:
        await outputs.until(EXPECTED_DECISIONS)
    finally:
        workers.stop_all()
    return outputs


async def _with_kills(kafka: KafkaSettings, tmp_path: Path, worker_count: int) -> Outputs:
    kafka = await _prepare(kafka)
    workers = Workers(kafka, tmp_path)
    first = [workers.start() for _ in range(worker_count)]
    inputs = _inputs()
    outputs = Outputs(kafka)
    try:
        await _produce(kafka, inputs[: len(inputs) // 3], workers.enrolled)
        await outputs.until(EXPECTED_DECISIONS // 6)
        await asyncio.sleep(2)  # the worker commits its input offsets: a restart resumes there
        os.kill(first[0].pid, signal.SIGKILL)  # mid-stream, no goodbye
        first[0].wait()
        await _produce(kafka, inputs[len(inputs) // 3 :], workers.enrolled)
        if worker_count == 1:
            workers.start()  # the restarted worker
        await outputs.until(EXPECTED_DECISIONS)
        await asyncio.sleep(2)  # let any late repeats arrive: they must agree
        await outputs.until(EXPECTED_DECISIONS)
    finally:
        workers.stop_all()
    return outputs


@pytest.fixture
def second_kafka(kafka_bootstrap: str) -> KafkaSettings:
    """Topics of their own for the interrupted run, beside the reference run's."""
    return isolated_settings(kafka_bootstrap)


async def test_kill_and_restart_decides_like_an_uninterrupted_run(
    kafka: KafkaSettings, second_kafka: KafkaSettings, tmp_path: Path
) -> None:
    reference = await _uninterrupted(kafka, tmp_path)
    restarted = await _with_kills(second_kafka, tmp_path, worker_count=1)
    assert reference.decisions() == EXPECTED_DECISIONS
    assert restarted.essence() == reference.essence()
    commands = [e for e in reference.by_id.values() if isinstance(e, InterventionCommand)]
    assert 8 <= len(commands) < EXPECTED_DECISIONS // 4  # sessions happened, and limits held


async def test_two_workers_one_killed_decide_like_an_uninterrupted_run(
    kafka: KafkaSettings, second_kafka: KafkaSettings, tmp_path: Path
) -> None:
    reference = await _uninterrupted(kafka, tmp_path)
    survivors = await _with_kills(second_kafka, tmp_path, worker_count=2)
    assert survivors.essence() == reference.essence()


def _session_inputs() -> list[AnyEvent]:
    """Windows and scores every 10 s for 30 min; a session from 600 s to 900 s, in time order."""
    events: list[AnyEvent] = []
    for second in range(0, 1800, 10):
        rmssd = 20.0 if second <= 600 else 30.0 if second <= 900 else 40.0
        if second in {600, 900}:
            events.append(
                _outcome(second, "started" if second == 600 else "completed", SESSION_COMMAND)
            )
        window = _window(second, rmssd, 80.0 - rmssd / 10)
        events.append(msgspec.structs.replace(window, event_id=f"window-{second:06d}-0000"))
        score = _score(second, 0.9 if second <= 600 else 0.3)
        events.append(msgspec.structs.replace(score, event_id=f"score-{second:06d}-00000"))
    return events


async def _produce_events(
    kafka: KafkaSettings, events: list[AnyEvent], enrolled: EnrolledGateway
) -> None:
    producer = AIOKafkaProducer(acks="all", **kafka.client_kwargs())
    await producer.start()
    try:
        for event in events:
            topic = kafka.topics.for_event(type(event))
            await producer.send(topic, enrolled.sign(event), key=event.patient_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _until_snapshot(kafka: KafkaSettings, reached: Callable[[PatientSnapshot], bool]) -> None:
    """Wait until the worker has saved a snapshot that satisfies ``reached``."""
    async with asyncio.timeout(60):
        while True:
            for partition in range(kafka.partitions):
                saved = (await read_partition(kafka, partition)).get(PATIENT)
                if saved is not None and reached(saved):
                    return
            await asyncio.sleep(0.5)


def _has_window(second: int) -> Callable[[PatientSnapshot], bool]:
    return lambda saved: any(w[0] == T0 + second * S for w in saved.evaluator.windows)


async def _evaluation(kafka: KafkaSettings) -> SessionEvaluation:
    consumer = AIOKafkaConsumer(
        kafka.topics.name("evaluations"), auto_offset_reset="earliest", **kafka.client_kwargs()
    )
    await consumer.start()
    try:
        async with asyncio.timeout(90):
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = decode_event(record.value or b"")
                        if isinstance(event, SessionEvaluation):
                            return event
    finally:
        await consumer.stop()


async def _evaluate_session(
    kafka: KafkaSettings, tmp_path: Path, *, kill: bool
) -> SessionEvaluation:
    """Phases in event time, each waited for through the saved state, so the order of topics in
    a fetch cannot change what is evaluated: to 750 s (mid-session), to 900 s, then the rest."""
    kafka = await _prepare(kafka)
    workers = Workers(kafka, tmp_path)
    events = _session_inputs()
    cut_mid = next(i for i, e in enumerate(events) if e.gateway_time_ns > T0 + 750 * S)
    cut_end = next(i for i, e in enumerate(events) if e.gateway_time_ns > T0 + 900 * S)
    first = workers.start()
    try:
        await _produce_events(kafka, events[:cut_mid], workers.enrolled)
        await _until_snapshot(kafka, _has_window(750))
        if kill:
            await asyncio.sleep(2)  # offsets committed: the restart resumes near here
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        await _produce_events(kafka, events[cut_mid:cut_end], workers.enrolled)
        if kill:
            workers.start()
        await _until_snapshot(kafka, lambda saved: any(s[3] for s in saved.evaluator.sessions))
        await _produce_events(kafka, events[cut_end:], workers.enrolled)
        return await _evaluation(kafka)
    finally:
        workers.stop_all()


async def test_a_session_running_across_a_kill_is_still_evaluated(
    kafka: KafkaSettings, second_kafka: KafkaSettings, tmp_path: Path
) -> None:
    reference = await _evaluate_session(kafka, tmp_path, kill=False)
    restarted = await _evaluate_session(second_kafka, tmp_path, kill=True)
    assert reference.command_id == restarted.command_id == SESSION_COMMAND
    assert reference.metrics["windows_during"] == 25  # every window wholly inside the session
    assert reference.metrics["rmssd_ms_change"] == 20.0
    assert restarted.metrics == reference.metrics
    assert restarted.effectiveness == reference.effectiveness
