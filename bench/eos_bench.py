"""faust exactly-once (transactions) against at-least-once + deduplication, on Apache Kafka.

For each guarantee, one `vagus closedloop` worker (``--exactly-once`` or not) on a fresh topic
set of one local Apache Kafka node (stream.local_kafka):

1. throughput: a burst of signed events (closedloop_bench's events), events per second until
   the last decision is readable;
2. latency: events at a steady rate, stress event produced -> its decision readable (p50, p99);
3. kill -9: events at a steady rate, the worker killed with SIGKILL mid-stream and a new one
   started; then every decision record is counted: records beyond one per decision id are
   duplicates, triggers without a decision are lost.

"Readable" means by a ``read_committed`` consumer, as a reader of an exactly-once pipeline
must read (an at-least-once worker writes no transactions, so it makes no difference there).

Usage: .venv/bin/python bench/eos_bench.py [--patients 20] [--events 3000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from aiokafka import AIOKafkaConsumer
from closedloop_bench import cpu_seconds, make_events, per_event_us, produce

from stream.codec import decode_event
from stream.enrolment import issue_key
from stream.events import LoopDecision
from stream.local_kafka import LocalKafka
from stream.settings import KafkaSettings
from stream.signing import GatewayKey
from vagus.config import EnrolmentSettings, VagusConfig
from vagus.demo import create_topics

METADATA_MAX_AGE_MS = 5_000
ASSIGNMENT_TIMEOUT_S = 60.0
LOG_TAIL_CHARS = 1500
#: Below either worker's throughput on a loaded 2-core machine, so latency is not queueing.
PACED_RATE_PER_S = 100.0
PACED_EVENTS = 500
KILL_RATE_PER_S = 200.0
KILL_AFTER_S = 2.0
GUARANTEES = ("at_least_once", "exactly_once")


def group_settings(address: str) -> KafkaSettings:
    """Settings for a fresh topic set on the local Apache Kafka at ``address``, with the
    consumer group's default session (6 s, as closedloop_bench gives Apache Kafka).

    ``for_embedded_broker``'s 1 s session is for tansu's slow joins; Apache Kafka joins at once
    whatever the session. aiokafka sends no heartbeat while a member's partition-assignment
    callback runs, and the exactly-once worker's (a transactional producer per input partition,
    each state partition read back) took 1.5 s on a loaded 2-core machine: the broker then
    dropped the member right after its first join and a second rebalance ran mid-phase, after
    which a decision could be missing for good (see CHANGELOG, "Fixed (eos bench)").
    """
    defaults = KafkaSettings()
    return msgspec.structs.replace(
        KafkaSettings(topic_prefix=f"eos{uuid.uuid4().hex[:8]}").for_embedded_broker(address),
        session_timeout_ms=defaults.session_timeout_ms,
        heartbeat_interval_ms=defaults.heartbeat_interval_ms,
    )


class StalledError(RuntimeError):
    """A phase whose decisions did not all arrive in time: says which, and how the worker is."""


class Decisions:
    """Every decision record on the topic, read as a read_committed consumer reads it."""

    def __init__(self, kafka: KafkaSettings, isolation_level: str = "read_committed") -> None:
        self._consumer = AIOKafkaConsumer(
            kafka.topics.name("decisions"),
            auto_offset_reset="earliest",
            isolation_level=isolation_level,
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            # a topic missing from the first metadata answer is otherwise looked up again only
            # after the default five minutes, and nothing would be read until then
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **kafka.client_kwargs(),
        )
        self.first_seen: dict[str, int] = {}  # trigger event id -> arrival time
        self.records: Counter[str] = Counter()  # decision event id -> records
        self.phase: dict[str, str] = {}  # decision event id -> the phase of its trigger

    async def start(self) -> None:
        await self._consumer.start()
        async with asyncio.timeout(ASSIGNMENT_TIMEOUT_S):
            while not self._consumer.assignment():  # noqa: ASYNC110 - aiokafka assigns
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def until(self, wanted: set[str], timeout_s: float) -> None:
        """Read until a decision for every wanted trigger arrived (TimeoutError otherwise)."""
        async with asyncio.timeout(timeout_s):
            while not wanted <= self.first_seen.keys():
                await self.read_once()

    async def read_once(self) -> None:
        for batch in (await self._consumer.getmany(timeout_ms=100, max_records=5000)).values():
            now = time.time_ns()
            for record in batch:
                decision = decode_event(record.value or b"")
                if isinstance(decision, LoopDecision):
                    self.first_seen.setdefault(decision.trigger_event_id, now)
                    self.records[decision.event_id] += 1
                    self.phase[decision.event_id] = decision.trigger_event_id.split("-")[0]

    def progress(self) -> str:
        assigned = sorted(f"{p.topic}[{p.partition}]" for p in self._consumer.assignment())
        return f"{len(self.first_seen)} triggers decided so far, reading {assigned or 'nothing'}"

    def duplicates_by_phase(self) -> dict[str, int]:
        """Records beyond one per decision, by the phase (warm, burst, paced, kill) of its
        trigger: a duplicate of an earlier phase's decision can still appear after a kill."""
        by_phase: Counter[str] = Counter()
        for event_id, count in self.records.items():
            by_phase[self.phase[event_id]] += count - 1
        return {phase: n for phase, n in sorted(by_phase.items()) if n}


class Worker:
    def __init__(self, config: Path, exactly_once: bool, log: Path) -> None:
        self.stats = log.with_name("stats.json")
        self._command = [sys.executable, "-m", "vagus", "--config", str(config), "closedloop"]
        self._command += ["--stats-file", str(self.stats)]
        self._command += ["--exactly-once"] if exactly_once else []
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        with self._log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self._command, stdout=output, stderr=subprocess.STDOUT
            )
        return self.process.pid

    async def first_stats(self, timeout_s: float) -> dict[str, Any]:
        """The worker's counters once it has written them: it writes on a 0.5 s timer, and under
        load its first decisions can reach us before the timer's first tick."""
        async with asyncio.timeout(timeout_s):
            while not self.stats.exists():  # noqa: ASYNC110 - another process writes it
                await asyncio.sleep(0.1)
        stats: dict[str, Any] = json.loads(self.stats.read_text())
        return stats

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no flush, no commit, no goodbye
        self.process.wait()

    def state(self) -> str:
        """Whether the worker still runs, and the end of its log: what a stalled run needs."""
        assert self.process is not None
        code = self.process.poll()
        status = "running" if code is None else f"exited with code {code}"
        tail = self._log.read_text(errors="replace")[-LOG_TAIL_CHARS:] if self._log.exists() else ""
        return f"worker (pid {self.process.pid}) {status}; its log ends:\n{tail}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


async def measure(address: str, guarantee: str, patients: int, total: int) -> dict[str, Any]:
    kafka = group_settings(address)
    workdir = Path(tempfile.mkdtemp(prefix="vagus-eos-bench-"))
    registry = workdir / "registry.json"
    keys: dict[str, GatewayKey] = {
        patient: issue_key(registry, patient).gateway_key()
        for patient in sorted({e.patient_id for e in make_events(patients, patients, "ids")})
    }
    config = workdir / "config.json"
    enrolment = EnrolmentSettings(registry_file=str(registry))
    config.write_bytes(msgspec.json.encode(VagusConfig(kafka=kafka, enrolment=enrolment)))
    await create_topics(kafka)
    worker = Worker(config, guarantee == "exactly_once", workdir / "worker.log")
    decisions = Decisions(kafka)
    result: dict[str, Any] = {"guarantee": guarantee, "patients": patients}
    phase = "start"
    try:
        pid = worker.start()
        await decisions.start()
        phase = "warm"
        warm = make_events(patients, 2 * patients, "warm")
        await produce(kafka, warm, keys)
        await decisions.until({e.event_id for e in warm}, 300)
        stats = await worker.first_stats(timeout_s=60)
        result["idempotent_producer"] = stats["idempotent_producer"]
        result["idempotence_reason"] = stats["idempotence_reason"]

        phase = "burst"
        burst = make_events(patients, total, "burst")
        cpu_before = cpu_seconds(pid)
        started = time.time_ns()
        await produce(kafka, burst, keys)
        await decisions.until({e.event_id for e in burst}, 300)
        last = max(decisions.first_seen[e.event_id] for e in burst)
        result["events"] = len(burst)
        result["events_per_s"] = round(len(burst) / ((last - started) / 1e9), 1)
        result["worker_cpu_us_per_event"] = per_event_us(cpu_before, cpu_seconds(pid), len(burst))

        phase = "paced"
        paced = make_events(patients, PACED_EVENTS, "paced")
        reading = asyncio.create_task(decisions.until({e.event_id for e in paced}, 120))
        sent = await produce(kafka, paced, keys, rate_per_s=PACED_RATE_PER_S)
        await reading
        latencies = np.array([(decisions.first_seen[k] - sent[k]) / 1e6 for k in sent])
        result["paced_rate_per_s"] = PACED_RATE_PER_S
        result["p50_ms"] = round(float(np.percentile(latencies, 50)), 1)
        result["p99_ms"] = round(float(np.percentile(latencies, 99)), 1)

        phase = "kill"
        result |= await kill_mid_stream(
            kafka, keys, worker=worker, decisions=decisions, patients=patients, total=total
        )
    except TimeoutError as exc:
        raise StalledError(
            f"{guarantee}: the {phase} phase stalled; {decisions.progress()}; {worker.state()}; "
            f"its files are kept in {workdir}"
        ) from exc
    finally:
        worker.stop()
        await decisions.stop()
    # The folder holds gateway keys and the worker's log: kept only when a phase stalled.
    shutil.rmtree(workdir, ignore_errors=True)
    return result


async def kill_mid_stream(
    kafka: KafkaSettings,
    keys: dict[str, GatewayKey],
    *,
    worker: Worker,
    decisions: Decisions,
    patients: int,
    total: int,
) -> dict[str, Any]:
    """SIGKILL the worker while events flow, start another, count duplicates and losses."""
    events = make_events(patients, min(total, 1000), "kill")
    wanted = {e.event_id for e in events}
    before = sum(decisions.records.values())
    sending = asyncio.create_task(produce(kafka, events, keys, rate_per_s=KILL_RATE_PER_S))
    # mid-stream whatever the run's size: at most halfway through sending
    kill_after_s = min(KILL_AFTER_S, 0.5 * len(events) / KILL_RATE_PER_S)
    await asyncio.sleep(kill_after_s)
    worker.kill()
    killed_at = time.monotonic()
    worker.start()
    await sending
    lost: int | None = None
    try:
        await decisions.until(wanted, 180)
        lost = 0
    except TimeoutError:
        lost = len(wanted - decisions.first_seen.keys())
    recovered_s = round(time.monotonic() - killed_at, 1)
    # decisions still in flight after the last trigger's (duplicates arrive late too)
    settle = time.monotonic() + 5
    while time.monotonic() < settle:
        await decisions.read_once()
    records = sum(decisions.records.values()) - before
    # over the whole run: the phases before the kill are counted too (and add none normally)
    duplicates = sum(count - 1 for count in decisions.records.values())
    # what a reader that ignores transactions sees: aborted outputs show up there
    uncommitted = Decisions(kafka, isolation_level="read_uncommitted")
    await uncommitted.start()
    try:
        await uncommitted.until(set(decisions.first_seen), 60)
        settle = time.monotonic() + 3
        while time.monotonic() < settle:
            await uncommitted.read_once()
    finally:
        await uncommitted.stop()
    return {
        "duplicates_by_phase": decisions.duplicates_by_phase(),
        "uncommitted_reader_duplicates_by_phase": uncommitted.duplicates_by_phase(),
        "kill_events": len(events),
        "kill_after_s": kill_after_s,
        "kill_sending_s": len(events) / KILL_RATE_PER_S,
        "kill_decision_records": records,
        "kill_duplicate_records": duplicates,
        "kill_lost_triggers": lost,
        "kill_all_decided_after_s": recovered_s,
    }


async def run(patients: int, total: int, guarantees: list[str]) -> list[dict[str, Any]]:
    kafka = LocalKafka(1)
    address = kafka.start()
    try:
        return [await measure(address, g, patients, total) for g in guarantees]
    finally:
        kafka.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--only", choices=GUARANTEES, help="measure one guarantee only")
    parser.add_argument("--json", action="store_true", help="last line: one JSON list")
    args = parser.parse_args()
    guarantees = [args.only] if args.only else list(GUARANTEES)
    try:
        results = asyncio.run(run(args.patients, args.events, guarantees))
    except StalledError as stalled:
        sys.exit(f"eos_bench: {stalled}")  # last on stderr, where a failing test shows its end
    for result in results:
        for key, value in result.items():
            print(f"{key:>36}: {value}")
        print()
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
