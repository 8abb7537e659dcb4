"""Workers of one consumer group for bench/closedloop_bench.py: start them, wait until each owns
its partitions, and measure the rebalance pause when one joins and when one leaves.

The pause is measured, not inferred: a paced stream runs throughout, an independent reader
notes when each decision arrives, and the pause is the longest gap between consecutive
decisions from the moment a worker is started (or sent SIGTERM) until the group has settled.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream.codec import decode_event
from stream.events import LoopDecision, StressEpisode, StressScore
from stream.settings import KafkaSettings
from stream.signing import GatewayKey, sign_event
from vagus.summary import WorkerStats

#: after a join (the new worker ready) or a leave, how long the pause may still show
SETTLE_S = 8.0
BASELINE_S = 5.0
#: below what one worker decides on a loaded 2-core machine (~300 events/s on three nodes), so
#: a gap is the rebalance's, not a backlog's
REBALANCE_RATE_PER_S = 100.0


class Workers:
    """`vagus closedloop` processes sharing one config, hence one consumer group."""

    def __init__(self, config: Path, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def stats_path(self, index: int) -> Path:
        return self.workdir / f"worker-{index}-stats.json"

    def start(self) -> int:
        index = len(self.processes)
        self.processes.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "vagus", "--config", str(self.config), "closedloop",
                 "--stats-file", str(self.stats_path(index))],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        return index

    async def ready(self, index: int, timeout_s: float = 120.0) -> None:
        """Until worker ``index`` owns partitions and restored their state."""
        async with asyncio.timeout(timeout_s):
            while not WorkerStats.read(self.stats_path(index)).ready:
                if self.processes[index].poll() is not None:
                    raise RuntimeError(f"worker {index} exited while starting")
                await asyncio.sleep(0.1)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    async def leave(self, index: int) -> None:
        process = self.processes[index]
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)

    def stop(self) -> None:
        for process in self.alive():
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _arrivals(kafka: KafkaSettings, seen: list[int], stop: asyncio.Event) -> None:
    """Note the wall time (ns) each new decision arrives at, until ``stop``."""
    consumer = AIOKafkaConsumer(
        kafka.topics.name("decisions"),
        auto_offset_reset="latest",
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        **kafka.client_kwargs(),
    )
    await consumer.start()
    ids: set[str] = set()
    try:
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=50)).values():
                now = time.time_ns()
                for record in records:
                    decision = decode_event(record.value or b"")
                    if isinstance(decision, LoopDecision) and decision.event_id not in ids:
                        ids.add(decision.event_id)
                        seen.append(now)
    finally:
        await consumer.stop()


async def _paced(
    kafka: KafkaSettings,
    events: Callable[[int], list[StressEpisode | StressScore]],
    keys: dict[str, GatewayKey],
    stop: asyncio.Event,
    rate_per_s: float,
) -> None:
    producer = AIOKafkaProducer(acks="all", linger_ms=2, **kafka.client_kwargs())
    await producer.start()
    topic = kafka.topics.name("stress")
    started = time.monotonic()
    sent = 0
    try:
        for block in itertools.count():
            for event in events(block):
                if stop.is_set():
                    return
                data = sign_event(event, keys[event.patient_id])
                await producer.send(topic, data, key=event.patient_id.encode())
                sent += 1
                delay = started + sent / rate_per_s - time.monotonic()
                await asyncio.sleep(max(0.0, delay))
    finally:
        await producer.stop()


def _longest_gap_s(times: list[int], start_ns: int, end_ns: int) -> float:
    gaps = [b - a for a, b in itertools.pairwise(sorted(times)) if b >= start_ns and a <= end_ns]
    return round(max(gaps, default=0) / 1e9, 3)


async def rebalance_pauses(
    kafka: KafkaSettings,
    workers: Workers,
    events: Callable[[int], list[StressEpisode | StressScore]],
    keys: dict[str, GatewayKey],
    rate_per_s: float = REBALANCE_RATE_PER_S,
) -> dict[str, float]:
    """With the running workers deciding a paced stream: start one more, then stop it."""
    stop = asyncio.Event()
    seen: list[int] = []
    reading = asyncio.create_task(_arrivals(kafka, seen, stop))
    await asyncio.sleep(1.0)  # the reader is at the end before the stream starts
    sending = asyncio.create_task(_paced(kafka, events, keys, stop, rate_per_s))
    try:
        await asyncio.sleep(BASELINE_S)
        baseline = (time.time_ns() - int(BASELINE_S * 1e9), time.time_ns())
        join_at = time.time_ns()
        joined = workers.start()
        await workers.ready(joined)
        await asyncio.sleep(SETTLE_S)
        join = (join_at, time.time_ns())
        leave_at = time.time_ns()
        await workers.leave(joined)
        await asyncio.sleep(SETTLE_S)
        leave = (leave_at, time.time_ns())
    finally:
        stop.set()
        await asyncio.gather(sending, reading)
    return {
        "rebalance_rate_per_s": rate_per_s,
        "longest_gap_steady_s": _longest_gap_s(seen, *baseline),
        "rebalance_join_pause_s": _longest_gap_s(seen, *join),
        "rebalance_join_window_s": round((join[1] - join[0]) / 1e9, 1),
        "rebalance_leave_pause_s": _longest_gap_s(seen, *leave),
    }
