"""Broker faults on a three-node Apache Kafka cluster while a paced closed-loop stream runs.

On LocalKafka(3) (replication 3, min ISR 2, topics created with replication_factor=3): one
gateway producer per patient, one `vagus closedloop` worker and a device consumer, with these
faults in turn while events flow:

- leader: kill -9 the node that leads patient 0's stress partition, start it again later;
- rolling: stop and start every node one by one (a rolling restart);
- outage: stop one node (the new leader of that partition) for ``--outage-s`` (default 60 s).

Then the same events run again, uninterrupted, on a fresh topic set. Figures: events lost,
duplicate sessions, whether the decisions equal the uninterrupted run's, and per fault the
longest stall (the longest gap between consecutive decisions, and between gateway deliveries).

Faults are driven from the main thread (each Kafka node is tied to the thread that started it);
the stream runs in a second thread with its own event loop.

Usage: .venv/bin/python bench/cluster_faults.py [--faults leader,rolling,outage] [--outage-s 60]
[--patients 16] [--block-s 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from cluster_harness import (
    DECISIONS_PER_BLOCK,
    EVENTS_PER_BLOCK,
    Outputs,
    Run,
    block_events,
    longest_gap_s,
    patient_ids,
    read_outputs,
)

from stream.local_kafka import LocalKafka
from stream.settings import KafkaSettings

FAULTS = ("leader", "rolling", "outage")
#: a killed leader stays down this long before it is started again
LEADER_DOWN_S = 15.0
SETTLE_S = 5.0


@dataclass
class Timeline:
    """Wall-clock spans (ns) of each fault, shared between the two threads."""

    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    streaming: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    failure: Exception | None = None


def leader_index(cluster: LocalKafka, kafka: KafkaSettings, patient: str) -> int:
    """Which node (index into the cluster) leads ``patient``'s partition of the stress topic."""

    async def ask() -> int:
        admin = AIOKafkaAdminClient(**kafka.client_kwargs())
        await admin.start()
        try:
            topic = kafka.topics.name("stress")
            (described,) = await admin.describe_topics([topic])
            partitions = {p["partition"]: p["leader"] for p in described["partitions"]}
            key_partition = (murmur2(patient.encode()) & 0x7FFFFFFF) % len(partitions)
            leader = partitions[key_partition]
            brokers = (await admin.describe_cluster())["brokers"]
            port = next(b["port"] for b in brokers if b["node_id"] == leader)
        finally:
            await admin.close()
        ports = [int(address.rsplit(":", 1)[1]) for address in cluster.bootstrap.split(",")]
        return ports.index(port)

    return asyncio.run(ask())


def inject(cluster: LocalKafka, kafka: KafkaSettings, faults: list[str], outage_s: float,
           timeline: Timeline) -> None:  # fmt: skip
    """The faults, one after the other, each followed by a few settled seconds."""
    patient = patient_ids(1)[0]
    for fault in faults:
        began = time.time_ns()
        if fault == "leader":
            node = leader_index(cluster, kafka, patient)
            cluster.kill(node)
            time.sleep(LEADER_DOWN_S)
            cluster.start_node(node)
        elif fault == "rolling":
            for node in range(3):
                cluster.stop_node(node)
                cluster.start_node(node)
        elif fault == "outage":
            node = leader_index(cluster, kafka, patient)
            cluster.stop_node(node)
            time.sleep(outage_s)
            cluster.start_node(node)
        timeline.spans[fault] = (began, time.time_ns())
        time.sleep(SETTLE_S)


async def stream(run: Run, timeline: Timeline, block_s: float) -> int:
    """Send one block of events every ``block_s`` until the faults are done; blocks sent."""
    await run.start()
    blocks = 0
    started = time.monotonic()
    timeline.streaming.set()
    while not timeline.done.is_set() or blocks < 3:
        await run.send_block(blocks)
        blocks += 1
        await asyncio.sleep(max(0.0, started + blocks * block_s - time.monotonic()))
    await run.drain(120)
    return blocks


async def finish(run: Run, blocks: int) -> Outputs:
    decisions = blocks * DECISIONS_PER_BLOCK * len(run.patients)
    inputs = {e.event_id for b in range(blocks) for e in block_events(b, run.patients)}
    try:
        return await read_outputs(run.kafka, decisions, inputs, 120)
    finally:
        await run.stop()


def settings(bootstrap: str, tag: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap=bootstrap,
        topic_prefix=f"{tag}{uuid.uuid4().hex[:8]}",
        replication_factor=3,
        fetch_max_wait_ms=100,
    )


def run_faults(
    faults: list[str], outage_s: float, *, patients: int = 16, block_s: float = 1.0,
    cluster: LocalKafka | None = None, workdir: Path | None = None,
) -> dict[str, object]:  # fmt: skip
    """Run the faults on ``cluster`` (else a fresh LocalKafka(3)); the figures."""
    began = time.monotonic()
    own = cluster is None
    cluster = cluster or LocalKafka(3)
    bootstrap = cluster.start()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="vagus-faults-"))
    ids = patient_ids(patients)
    kafka = settings(bootstrap, "faults")
    timeline = Timeline()
    result: dict[str, object] = {}

    def streaming() -> None:
        async def go() -> tuple[int, Outputs]:
            result["run"] = faulted = Run(kafka, workdir / "faults", ids)
            sent = await stream(faulted, timeline, block_s)
            return sent, await finish(faulted, sent)

        try:
            result["blocks"], result["outputs"] = asyncio.run(go())
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            timeline.failure = exc
            timeline.streaming.set()

    thread = threading.Thread(target=streaming, name="stream")
    thread.start()
    try:
        timeline.streaming.wait()
        time.sleep(SETTLE_S)
        if timeline.failure is None:
            inject(cluster, kafka, faults, outage_s, timeline)
    finally:
        timeline.done.set()
        thread.join()
    if timeline.failure is not None:
        raise RuntimeError(f"the stream failed: {timeline.failure!r}") from timeline.failure
    blocks = int(str(result["blocks"]))
    outputs, faulted = result["outputs"], result["run"]
    assert isinstance(outputs, Outputs)
    assert isinstance(faulted, Run)
    reference = asyncio.run(uninterrupted(bootstrap, workdir / "reference", ids, blocks))
    if own:
        cluster.stop()
    return figures(faulted, outputs, reference, timeline, blocks) | {
        "broker": cluster.name,
        "outage_s": outage_s,
        "events_per_s": round(patients * EVENTS_PER_BLOCK / block_s, 1),
        "wall_s": round(time.monotonic() - began, 1),
    }


async def uninterrupted(bootstrap: str, workdir: Path, ids: list[str], blocks: int) -> Outputs:
    run = Run(settings(bootstrap, "reference"), workdir, ids)
    await run.start()
    for block in range(blocks):
        await run.send_block(block)
    await run.drain(120)
    return await finish(run, blocks)


def figures(run: Run, outputs: Outputs, reference: Outputs, timeline: Timeline, blocks: int
            ) -> dict[str, object]:  # fmt: skip
    decided = [ms * 1_000_000 for ms in outputs.decision_times_ms()]
    delivered = [at for _, at in run.ledger.delivered]
    sent = [e.event_id for b in range(blocks) for e in block_events(b, run.patients)]
    per_fault = {
        fault: {
            "seconds": round((end - begin) / 1e9, 1),
            "longest_decision_gap_s": longest_gap_s(decided, begin, end + int(SETTLE_S * 1e9)),
            "longest_delivery_gap_s": longest_gap_s(delivered, begin, end + int(SETTLE_S * 1e9)),
        }
        for fault, (begin, end) in timeline.spans.items()
    }
    first = min((b for b, _ in timeline.spans.values()), default=0)
    return {
        "patients": len(run.patients),
        "events": len(sent),
        "events_lost": len(set(sent) - outputs.inputs),
        "decisions": len(outputs.decisions),
        "reference_decisions": len(reference.decisions),
        "decisions_equal": outputs.essence() == reference.essence(),
        "duplicate_sessions": run.device.duplicate_sessions(outputs.episode_of()),
        "device_commands_not_in_reference": len(
            {c.event_id for c in run.device.commands} - reference.commands.keys()
        ),
        "device_commands": len(run.device.commands),
        "reference_commands": len(reference.commands),
        "repeated_outputs_dropped": outputs.repeats,
        "gateway_outages": run.outages(),
        "worker_exits": [w.returncode for w in run.workers if w.returncode not in (None, 0, -15)],
        "longest_decision_gap_before_faults_s": longest_gap_s(decided, 0, first, within=True),
        "faults": per_fault,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS), help="leader,rolling,outage")
    parser.add_argument("--outage-s", type=float, default=60.0)
    parser.add_argument("--patients", type=int, default=16)
    parser.add_argument("--block-s", type=float, default=1.0, help="seconds per episode block")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    if not set(faults) <= set(FAULTS):
        parser.error(f"--faults: choose among {', '.join(FAULTS)}")
    result = run_faults(faults, args.outage_s, patients=args.patients, block_s=args.block_s)
    for key, value in result.items():
        print(f"{key:>38}: {value}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
