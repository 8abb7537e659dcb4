"""Closed-loop throughput and latency, measured in one run against the real broker.

Phases, all with ``--workers`` `vagus closedloop` processes in one consumer group (default 1):

1. reference: the pure decision engine (`closedloop.decision.step`) in this process, no Kafka,
   on the same events: the ceiling that transport overhead is compared with;
2. throughput: every event (an episode start, then scores inside the episode, for N patients)
   produced as fast as possible; events per second = events / time until the last decision;
3. latency: events sent at a steady rate; latency = stress event produced -> its decision read;
4. with ``--rebalance``: a paced stream while one more worker joins the group and then leaves;
   the pause is the longest gap between decisions around each (bench/scale_out.py).

The workers' CPU time per event in phase 2 is printed too: unlike throughput it barely moves
with other load on the machine, so it is the figure to compare two versions of the worker by.

Usage: .venv/bin/python bench/closedloop_bench.py [--patients 100] [--events 20000] [--json]
       [--kafka [--nodes 3]] [--workers 2] [--partitions 4] [--rebalance [RATE]] [--paced-rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from scale_out import REBALANCE_RATE_PER_S, Workers, rebalance_pauses

from closedloop.decision import PatientLoopState, step
from closedloop.policy import DEFAULT_POLICY
from stream.broker import EmbeddedBroker, LocalBroker
from stream.codec import decode_event
from stream.enrolment import issue_key
from stream.events import LoopDecision, StressEpisode, StressScore
from stream.local_kafka import LocalKafka
from stream.settings import KafkaSettings
from stream.signing import GatewayKey, sign_event
from vagus.config import EnrolmentSettings, VagusConfig
from vagus.demo import create_topics

S = 1_000_000_000
PACED_RATE_PER_S = 1000.0
T0 = 1_773_151_200 * S


def make_events(patients: int, total: int, tag: str) -> list[StressEpisode | StressScore]:
    """Round-robin over patients: each opens an episode, then sends scores inside it."""
    events: list[StressEpisode | StressScore] = []
    per_patient = max(2, total // patients)
    for k in range(per_patient):
        for p in range(patients):
            patient = f"p-{p:012d}"
            at = T0 + k * 10 * S
            episode_id = f"{tag}-ep-{p:06d}"
            if k == 0:
                events.append(
                    StressEpisode(
                        event_id=f"{tag}-start-{p:06d}",
                        patient_id=patient,
                        producer_id="bench",
                        gateway_time_ns=at,
                        episode_id=episode_id,
                        phase="start",
                        started_at_ns=at,
                        score=0.9,
                        trigger_window_id=episode_id,
                    )
                )
            else:
                events.append(
                    StressScore(
                        event_id=f"{tag}-score-{p:06d}-{k:06d}",
                        patient_id=patient,
                        producer_id="bench",
                        gateway_time_ns=at,
                        window_id=f"{tag}-w-{p}-{k}",
                        window_end_ns=at,
                        score=0.9,
                        method="bench",
                        quality="ok",
                    )
                )
    return events


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere).

    Throughput on a shared machine moves with other load; the worker's CPU time per event
    does much less, so it is the figure to compare changes with.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_event_us(before: float | None, after: float | None, events: int) -> float | None:
    if before is None or after is None:
        return None
    return round((after - before) / events * 1e6, 1)


def reference_rate(events: list[StressEpisode | StressScore]) -> float:
    states: dict[str, PatientLoopState] = {}
    started = time.perf_counter()
    for event in events:
        state = states.setdefault(event.patient_id, PatientLoopState(policy=DEFAULT_POLICY))
        step(state, event, producer_id="bench")
    return len(events) / (time.perf_counter() - started)


async def produce(
    kafka: KafkaSettings,
    events: list[StressEpisode | StressScore],
    keys: dict[str, GatewayKey],
    rate_per_s: float | None = None,
) -> dict[str, int]:
    """Send events, each signed by its patient's gateway key as a gateway signs it (signed
    before the clock starts), paced when ``rate_per_s`` is given; return each send time."""
    signed = [(event, sign_event(event, keys[event.patient_id])) for event in events]
    producer = AIOKafkaProducer(acks="all", linger_ms=2, **kafka.client_kwargs())
    await producer.start()
    sent: dict[str, int] = {}
    topic = kafka.topics.name("stress")
    started = time.monotonic()
    try:
        for i, (event, data) in enumerate(signed):
            if rate_per_s is not None:
                await asyncio.sleep(max(0.0, started + i / rate_per_s - time.monotonic()))
            sent[event.event_id] = time.time_ns()
            await producer.send(topic, data, key=event.patient_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def collect(kafka: KafkaSettings, wanted: set[str], timeout_s: float) -> dict[str, int]:
    """Read decisions until one for every wanted trigger arrived; return their arrival times."""
    consumer = AIOKafkaConsumer(
        kafka.topics.name("decisions"),
        auto_offset_reset="earliest",
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        **kafka.client_kwargs(),
    )
    await consumer.start()
    arrived: dict[str, int] = {}
    try:
        async with asyncio.timeout(timeout_s):
            while not wanted <= arrived.keys():
                for records in (await consumer.getmany(timeout_ms=100, max_records=5000)).values():
                    now = time.time_ns()
                    for record in records:
                        decision = decode_event(record.value or b"")
                        if isinstance(decision, LoopDecision):
                            arrived.setdefault(decision.trigger_event_id, now)
    finally:
        await consumer.stop()
    return arrived


def total_cpu(pids: list[int]) -> float | None:
    """The CPU time of every process in ``pids`` together (None if one cannot be read)."""
    each = [cpu_seconds(pid) for pid in pids]
    return None if None in each else sum(e for e in each if e is not None)


async def run(
    patients: int,
    total: int,
    bootstrap: str | None,
    *,
    local_kafka: bool = False,
    nodes: int = 1,
    workers: int = 1,
    partitions: int = 4,
    rebalance: float | None = None,
    paced_rate: float = PACED_RATE_PER_S,
) -> dict[str, float | int | str | None]:
    broker: LocalBroker | None = None
    if bootstrap is None:
        broker = LocalKafka(nodes) if local_kafka else EmbeddedBroker()
    address = broker.start() if broker is not None else str(bootstrap)
    kafka = KafkaSettings(
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
        partitions=partitions,
        replication_factor=3 if local_kafka and nodes == 3 else 1,
    ).for_embedded_broker(address)
    if local_kafka:  # the group's default 6 s session: with 1 s, loaded members drop out
        kafka = msgspec.structs.replace(kafka, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    workdir = Path(tempfile.mkdtemp(prefix="vagus-bench-"))
    # one enrolled gateway per patient: the worker acts only on what they sign
    registry = workdir / "registry.json"
    keys = {
        patient: issue_key(registry, patient).gateway_key()
        for patient in sorted({e.patient_id for e in make_events(patients, patients, "ids")})
    }
    config = workdir / "config.json"
    enrolment = EnrolmentSettings(registry_file=str(registry))
    config.write_bytes(msgspec.json.encode(VagusConfig(kafka=kafka, enrolment=enrolment)))
    group = Workers(config, workdir)
    try:
        await create_topics(kafka)
        for _ in range(workers):
            group.start()
        for index in range(workers):
            await group.ready(index)
        pids = [p.pid for p in group.processes]
        warm = make_events(patients, 2 * patients, "warm")
        await produce(kafka, warm, keys)
        await collect(kafka, {e.event_id for e in warm}, 120)

        burst = make_events(patients, total, "burst")
        reference = reference_rate(make_events(patients, total, "ref"))
        cpu_before = total_cpu(pids)
        started = time.time_ns()
        await produce(kafka, burst, keys)
        arrived = await collect(kafka, {e.event_id for e in burst}, 600)
        elapsed_s = (max(arrived[e.event_id] for e in burst) - started) / 1e9
        events_per_s = len(burst) / elapsed_s
        cpu_us_per_event = per_event_us(cpu_before, total_cpu(pids), len(burst))

        paced = make_events(patients, min(total, int(3 * paced_rate)), "paced")
        reading = asyncio.create_task(collect(kafka, {e.event_id for e in paced}, 120))
        await asyncio.sleep(1.0)  # the reader is caught up before the first paced event
        paced_cpu_before = total_cpu(pids)
        sent = await produce(kafka, paced, keys, rate_per_s=paced_rate)
        arrived = await reading
        paced_cpu_after = total_cpu(pids)
        latencies = np.array([(arrived[k] - sent[k]) / 1e6 for k in sent])
        pauses: dict[str, float | int | str | None] = {}
        if rebalance is not None:
            blocks = lambda block: make_events(patients, 10 * patients, f"r{block}")  # noqa: E731
            pauses |= await rebalance_pauses(kafka, group, blocks, keys, rebalance)
        result: dict[str, float | int | str | None] = {
            "broker": broker.name if broker is not None else str(bootstrap),
            "workers": workers,
            "partitions": partitions,
            "replication_factor": kafka.replication_factor,
            "session_timeout_ms": kafka.session_timeout_ms,
            "patients": patients,
            "events": len(burst),
            "events_per_s": round(events_per_s, 1),
            "engine_events_per_s": round(reference, 1),
            "worker_vs_engine_ratio": round(events_per_s / reference, 4),
            "worker_cpu_us_per_event": cpu_us_per_event,
            "paced_rate_per_s": paced_rate,
            "paced_worker_cpu_us_per_event": per_event_us(
                paced_cpu_before, paced_cpu_after, len(paced)
            ),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        }
        return result | pauses
    finally:
        group.stop()
        if broker is not None:
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--bootstrap", help="a Kafka to use instead of the embedded broker")
    parser.add_argument("--kafka", action="store_true", help="start a local Apache Kafka node")
    parser.add_argument("--nodes", type=int, choices=(1, 3), default=1, help="with --kafka")
    parser.add_argument("--workers", type=int, default=1, help="workers in the consumer group")
    parser.add_argument("--partitions", type=int, default=4, help="per topic (>= --workers)")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=PACED_RATE_PER_S,
        help=f"events/s of the latency phase (default {PACED_RATE_PER_S:g})",
    )
    parser.add_argument(
        "--rebalance",
        type=float,
        nargs="?",
        const=REBALANCE_RATE_PER_S,
        metavar="RATE",
        help="measure a join and a leave with a paced stream (events/s, default "
        f"{REBALANCE_RATE_PER_S:g})",
    )
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args()
    if args.kafka and args.bootstrap:
        parser.error("--kafka starts a local Kafka; --bootstrap names one: pick one")
    if args.nodes != 1 and not args.kafka:
        parser.error("--nodes is for --kafka (a local Apache Kafka)")
    if not 1 <= args.workers <= args.partitions:
        parser.error("--workers must be between 1 and --partitions")
    result = asyncio.run(
        run(
            args.patients,
            args.events,
            args.bootstrap,
            local_kafka=args.kafka,
            nodes=args.nodes,
            workers=args.workers,
            partitions=args.partitions,
            rebalance=args.rebalance,
            paced_rate=args.paced_rate,
        )
    )
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
