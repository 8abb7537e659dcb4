"""A paced closed-loop stream on a Kafka cluster, and the figures a broker fault is judged by.

Used by bench/cluster_faults.py. Each patient has a gateway's real producer path of its own (a
:class:`SpoolingProducer` with a disk spool, signing with that patient's enrolled key); one
`vagus closedloop` worker decides; a device reads commands through the gateway's command
consumer (:class:`EventConsumer`: dedupe by event id, commits after handling) and counts each
session it would start. Every id is deterministic, so a run with faults and an uninterrupted run
of the same events are compared decision by decision (decision and command ids derive from the
trigger's id).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer

from stream.codec import decode_event
from stream.consumer import EventConsumer
from stream.enrolment import issue_key
from stream.events import (
    AnyEvent,
    Event,
    InterventionCommand,
    LoopDecision,
    StressEpisode,
    StressScore,
)
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from vagus.config import EnrolmentSettings, VagusConfig
from vagus.demo import create_topics
from vagus.summary import WorkerStats

S = 1_000_000_000
T0 = 1_773_151_200 * S
#: events per patient per block: an episode start, three scores inside it, its end
EVENTS_PER_BLOCK = 5
DECISIONS_PER_BLOCK = 4  # the start and each score


def patient_ids(count: int) -> list[str]:
    return [f"p-{p:012d}" for p in range(count)]


def block_events(block: int, patients: list[str]) -> list[StressEpisode | StressScore]:
    """Episode ``block`` of every patient (20 stream minutes apart), in event-time order."""
    events: list[StressEpisode | StressScore] = []
    for p, patient in enumerate(patients):
        start = T0 + (block * 1200 + p * 2) * S
        episode = f"ep-{p:04d}-{block:06d}-000"
        events.append(
            StressEpisode(
                event_id=f"start-{p:04d}-{block:06d}",
                gateway_time_ns=start,
                episode_id=episode,
                phase="start",
                started_at_ns=start,
                score=0.6 + 0.02 * ((p + block) % 19),
                trigger_window_id=episode,
                patient_id=patient,
                producer_id="cluster-bench",
            )
        )
        for k in range(1, 4):
            events.append(
                StressScore(
                    event_id=f"score-{p:04d}-{block:06d}-{k}",
                    gateway_time_ns=start + k * 10 * S,
                    window_id=f"window-{p:04d}-{block:06d}-{k}",
                    window_end_ns=start + k * 10 * S,
                    score=0.75 + 0.05 * k,
                    method="t",
                    quality="ok",
                    patient_id=patient,
                    producer_id="cluster-bench",
                )
            )
        events.append(
            StressEpisode(
                event_id=f"end-{p:04d}-{block:06d}-0",
                gateway_time_ns=start + 60 * S,
                episode_id=episode,
                phase="end",
                started_at_ns=start,
                score=0.2,
                trigger_window_id=episode,
                patient_id=patient,
                producer_id="cluster-bench",
            )
        )
    return sorted(events, key=lambda event: event.gateway_time_ns)


@dataclass
class Ledger:
    """Wall time (ns) of each acknowledged delivery, in order."""

    delivered: list[tuple[str, int]] = field(default_factory=list)

    def on_delivered(self, topic: str, event: Event) -> None:
        self.delivered.append((event.event_id, time.time_ns()))


@dataclass
class Device:
    """What reached the device: each admitted command once (the gate dropped repeats)."""

    commands: list[InterventionCommand] = field(default_factory=list)

    async def handle(self, event: AnyEvent) -> None:
        if isinstance(event, InterventionCommand):
            self.commands.append(event)

    def duplicate_sessions(self, episode_of: dict[str, str]) -> int:
        """Sessions started more than once: a repeated command, or a second one for an episode
        (``episode_of``: command id -> its decision's episode)."""
        episodes = {(c.patient_id, episode_of.get(c.event_id, c.event_id)) for c in self.commands}
        return len(self.commands) - len(episodes)


class Run:
    """One topic set on the cluster: gateways, worker and device; ``stop()`` ends them all."""

    def __init__(self, kafka: KafkaSettings, workdir: Path, patients: list[str]) -> None:
        self.kafka = kafka
        self.workdir = workdir
        self.patients = patients
        workdir.mkdir(parents=True, exist_ok=True)
        registry = workdir / "registry.json"
        self.keys = {p: issue_key(registry, p).gateway_key() for p in patients}
        config = VagusConfig(kafka=kafka, enrolment=EnrolmentSettings(registry_file=str(registry)))
        self.config_path = workdir / "config.json"
        self.config_path.write_bytes(msgspec.json.encode(config))
        self.stats_path = workdir / "worker-stats.json"
        self.ledger = Ledger()
        self.gateways = {
            p: SpoolingProducer(
                kafka,
                producer_id=f"gateway-{p}",
                spool=Spool(workdir / "spool" / p, SpoolSettings(fsync="interval")),
                sensors=[self.ledger],
                signing_key=self.keys[p],
            )
            for p in patients
        }
        self.device = Device()
        self._dead_letters = EventProducer(kafka, producer_id="device-dead-letters")
        self._commands = EventConsumer(
            kafka,
            group_id=f"{kafka.topic_prefix}-device",
            topics=[kafka.topics.name("commands")],
            handler=self.device.handle,
            dead_letters=self._dead_letters,
            consumer_id="device",
        )
        self._stop = asyncio.Event()
        self._device_task: asyncio.Task[None] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.sent: list[str] = []

    def start_worker(self) -> subprocess.Popen[bytes]:
        config, stats = str(self.config_path), str(self.stats_path)
        command = [sys.executable, "-m", "vagus", "--config", config, "closedloop"]
        with open(self.workdir / f"worker-{len(self.workers)}.log", "ab") as log:
            worker = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*command, "--stats-file", stats],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers.append(worker)
        return worker

    async def start(self, workers: int = 1) -> None:
        await create_topics(self.kafka)
        for _ in range(workers):
            self.start_worker()
        async with asyncio.timeout(120):
            while not WorkerStats.read(self.stats_path).ready:
                if any(w.poll() is not None for w in self.workers):
                    raise RuntimeError(f"a worker died at start: see {self.workdir}")
                await asyncio.sleep(0.2)
        await self._dead_letters.start()
        await self._commands.start()
        self._device_task = asyncio.create_task(self._commands.run(self._stop))
        for gateway in self.gateways.values():
            await gateway.start()

    async def send_block(self, block: int) -> None:
        for event in block_events(block, self.patients):
            await self.gateways[event.patient_id].send(event)
            self.sent.append(event.event_id)

    async def drain(self, timeout_s: float) -> None:
        """Until every gateway's spool is empty (flush also returns while the broker is away)."""
        async with asyncio.timeout(timeout_s):
            for gateway in self.gateways.values():
                while len(gateway.spool):
                    await gateway.flush()
                    await asyncio.sleep(0.05)

    def outages(self) -> int:
        """How many times a gateway found the broker unreachable and spooled."""
        return sum(g.outages for g in self.gateways.values())

    async def stop(self) -> None:
        self._stop.set()
        if self._device_task is not None:
            await asyncio.wait({self._device_task}, timeout=5)
        await self._commands.stop()
        await self._dead_letters.stop()
        for gateway in self.gateways.values():
            await gateway.stop(drain_timeout_s=1)
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                await asyncio.to_thread(worker.wait, 30)
            except subprocess.TimeoutExpired:
                worker.kill()


@dataclass
class Outputs:
    """Every decision and command on the topics, once per id, with the record's timestamp."""

    decisions: dict[str, tuple[LoopDecision, int]] = field(default_factory=dict)
    commands: dict[str, InterventionCommand] = field(default_factory=dict)
    inputs: set[str] = field(default_factory=set)
    repeats: int = 0

    def essence(self) -> dict[str, tuple[object, ...]]:
        ids: dict[str, tuple[object, ...]] = {
            i: ("decision", d.trigger_event_id, d.action, d.hold_reason, d.command_id)
            for i, (d, _) in self.decisions.items()
        }
        ids |= {
            i: ("command", c.reason.trigger_event_id, c.modality, c.gateway_time_ns)
            for i, c in self.commands.items()
        }
        return ids

    def episode_of(self) -> dict[str, str]:
        """Each command's episode, from the decision that carries it."""
        return {d.command_id: d.episode_id for d, _ in self.decisions.values() if d.command_id}

    def decision_times_ms(self) -> list[int]:
        return sorted(ms for _, ms in self.decisions.values())


async def read_outputs(
    kafka: KafkaSettings, decisions: int, inputs: set[str], timeout_s: float
) -> Outputs:
    """Read the stress, decisions and commands topics from the start until ``decisions``
    distinct decisions and every id of ``inputs`` are in (or the timeout: the caller sees
    the shortfall)."""
    topics = [kafka.topics.name(t) for t in ("stress", "decisions", "commands")]
    consumer = AIOKafkaConsumer(
        *topics, auto_offset_reset="earliest", fetch_max_wait_ms=100, **kafka.client_kwargs()
    )
    outputs = Outputs()
    await consumer.start()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while len(outputs.decisions) < decisions or not inputs <= outputs.inputs:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        for record in records:
                            _add(outputs, decode_event(record.value or b""), record.timestamp)
    finally:
        await consumer.stop()
    return outputs


def _add(outputs: Outputs, event: AnyEvent, timestamp_ms: int) -> None:
    if isinstance(event, LoopDecision):
        outputs.repeats += event.event_id in outputs.decisions
        outputs.decisions.setdefault(event.event_id, (event, timestamp_ms))
    elif isinstance(event, InterventionCommand):
        outputs.repeats += event.event_id in outputs.commands
        outputs.commands.setdefault(event.event_id, event)
    else:
        outputs.inputs.add(event.event_id)


def longest_gap_s(
    times_ns: list[int], start_ns: int, end_ns: int, *, within: bool = False
) -> float:
    """The longest interval between consecutive times that overlaps [start, end] (``within``:
    that lies inside it)."""
    ordered = sorted(times_ns)
    gaps = [
        b - a
        for a, b in itertools.pairwise(ordered)
        if ((a >= start_ns and b <= end_ns) if within else (b >= start_ns and a <= end_ns))
    ]
    return round(max(gaps, default=0) / 1e9, 2)
