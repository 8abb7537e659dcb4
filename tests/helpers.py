"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from stream.consumer import EventConsumer
from stream.enrolment import issue_key, revoke_key
from stream.events import AnyEvent, Event, StreamGap, StressScore
from stream.ids import new_event_id
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from stream.signing import GatewayKey, sign_event
from vagus.config import EnrolmentSettings, VagusConfig
from vagus.demo import create_topics

PATIENT = "p-0123456789ab"
_DSP_BENCH = Path(__file__).resolve().parents[1] / "bench" / "dsp_bench.py"


@dataclass(frozen=True)
class EnrolledGateway:
    """A test gateway enrolled for one patient: its key, and the worker registry that holds it.

    Tests that write straight to the worker's input topics sign with :meth:`sign`, and start
    the worker with :meth:`config` (or ``enrolment_file=registry``), as a real deployment does.
    """

    key: GatewayKey
    registry: Path
    _other_patients: dict[str, GatewayKey] = field(default_factory=dict)

    def sign(self, event: Event) -> bytes:
        """``event`` as its patient's enrolled gateway sends it (a gateway for a patient other
        than ``key``'s is enrolled in the same registry on first use)."""
        patient = event.patient_id
        key = self.key
        if patient != key.patient_id:
            if patient not in self._other_patients:
                self._other_patients[patient] = self.issue(patient)
            key = self._other_patients[patient]
        return sign_event(event, key)

    def config(self, kafka: KafkaSettings) -> VagusConfig:
        """A configuration for `vagus` subprocesses: this broker, this registry."""
        return VagusConfig(
            kafka=kafka, enrolment=EnrolmentSettings(registry_file=str(self.registry))
        )

    def issue(self, patient_id: str = PATIENT) -> GatewayKey:
        """Another key in the same registry (a rotation, or another patient's gateway)."""
        return issue_key(self.registry, patient_id).gateway_key()

    def revoke(self, key_id: str) -> None:
        revoke_key(self.registry, key_id)


@contextlib.contextmanager
def worker_process(
    kafka: KafkaSettings, enrolled: EnrolledGateway, folder: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A `vagus closedloop` process on ``kafka`` trusting ``enrolled``'s registry, and the stats
    file it rewrites every 0.5 s; stopped with SIGTERM (as a service manager does) on exit."""
    config_path = folder / "worker-config.json"
    config_path.write_bytes(msgspec.json.encode(enrolled.config(kafka)))
    stats_path = folder / "stats.json"
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "vagus", "--config", str(config_path)),
            *("closedloop", "--stats-file", str(stats_path)),
        ],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield worker, stats_path
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


def enrol_test_gateway(folder: Path, patient_id: str = PATIENT) -> EnrolledGateway:
    """Enrol a gateway for ``patient_id`` in a registry under ``folder``."""
    registry = folder / "enrolment" / "registry.json"
    return EnrolledGateway(issue_key(registry, patient_id).gateway_key(), registry)


def count_results(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, names: tuple[str, ...]
) -> dict[str, int]:
    """Wrap module.<name> for each name; the dict counts the calls that returned a result (not
    None: the one-call window paths return None where they hand over)."""
    counts = dict.fromkeys(names, 0)
    for name in names:
        original = getattr(module, name)

        def counted(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
            result = _original(*args, **kw)
            counts[_name] += result is not None
            return result

        monkeypatch.setattr(module, name, counted)
    return counts


def dsp_bench() -> ModuleType:
    """bench/dsp_bench.py as a module (its synthetic gateway hour is the pipeline tests' input)."""
    spec = importlib.util.spec_from_file_location("dsp_bench_for_tests", _DSP_BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_vagus(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "vagus", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )


async def config_with_topics(
    kafka: KafkaSettings, tmp_path: Path, enrolled: EnrolledGateway | None = None
) -> Path:
    """A config file pointing `vagus` subprocesses at the test broker, its topics created
    (and, with ``enrolled``, the worker at that gateway's registry)."""
    await create_topics(kafka)
    path = tmp_path / "config.json"
    tuned = msgspec.structs.replace(kafka, fetch_max_wait_ms=20)
    config = VagusConfig(kafka=tuned) if enrolled is None else enrolled.config(tuned)
    path.write_bytes(msgspec.json.encode(config))
    return path


def stress_score(index: int, producer_id: str = "test") -> StressScore:
    return StressScore(
        patient_id=PATIENT,
        producer_id=producer_id,
        gateway_time_ns=index,
        window_id=new_event_id(),
        window_end_ns=index,
        score=0.5,
        method="rule",
        quality="ok",
    )


def stream_gap(second: int, *, producer_id: str, patient_id: str = "p-0000000000a1") -> StreamGap:
    """A small, valid event stamped ``second`` s into a fixed day: handy for ordering checks."""
    t = 1_700_000_000_000_000_000 + second * 1_000_000_000
    return StreamGap(
        patient_id=patient_id,
        producer_id=producer_id,
        gateway_time_ns=t,
        device_id="d-00000000",
        stream="ecg",
        gap_start_ns=t - 1,
        gap_end_ns=t,
        reason="disconnected",
    )


@contextlib.asynccontextmanager
async def collecting_consumer(
    settings: KafkaSettings, producer: EventProducer, group_id: str
) -> AsyncIterator[tuple[EventConsumer, list[AnyEvent]]]:
    """A running EventConsumer on the stress topic that collects what it admits."""
    received: list[AnyEvent] = []

    async def handler(event: AnyEvent) -> None:
        received.append(event)

    consumer = EventConsumer(
        settings,
        group_id=group_id,
        topics=[settings.topics.name("stress")],
        handler=handler,
        dead_letters=producer,
        consumer_id=f"{group_id}-consumer",
    )
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer, received
    finally:
        stop.set()
        await task
        await consumer.stop()


async def read_events(
    kafka: KafkaSettings, topic: str, wanted: int, timeout_s: float = 20
) -> list[AnyEvent]:
    """Read ``topic`` from the beginning until ``wanted`` events came (or fail on the timeout)."""
    from aiokafka import AIOKafkaConsumer

    from stream.codec import decode_event

    consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **kafka.client_kwargs())
    await consumer.start()
    events: list[AnyEvent] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(events) < wanted:
                batches = await consumer.getmany(timeout_ms=200)
                events += [decode_event(r.value) for rs in batches.values() for r in rs if r.value]
    finally:
        await consumer.stop()
    return events
