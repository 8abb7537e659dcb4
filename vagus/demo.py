"""`vagus demo`: a recorded session end to end, with figures that show nothing was lost.

It starts (or joins) a broker, creates the topics, starts the closed-loop faust worker as its own
process, replays the bundled recording through a gateway that drives a simulated pacer, and reads
every topic back with an independent audit consumer. Shutdown runs in reverse order from a
``finally`` block, so Ctrl-C at any moment leaves no broker or worker behind.

The outcome must not depend on how fast the host is. So the DSP kernels are compiled (or loaded
from numba's cache) while the worker starts, before the first record is replayed; the replay
clock holds recording time while the host falls behind instead of skipping ahead
(:class:`ingest.replay.ReplayClock`); and the gateway waits for the loop's decision on every
window it must decide on, at every speed (lockstep), with the clock held meanwhile. A command
therefore reaches the device at the same recording time on a fast machine and on a slow one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import msgspec
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from hardware.audio import WavVibroacousticDevice
from hardware.devices import FanOutDevice, SimulatedDevice
from ingest.recording import RecordingReader
from ingest.replay import ReplayClock, Speed, open_recording, replay
from stream.broker import EmbeddedBroker, LocalBroker, killed_with_parent, wait_exit
from stream.consumer import EventConsumer
from stream.local_kafka import LocalKafka
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from stream.timeouts import TIMEOUTS, bounded
from stream.topics import ensure_topic_set, until_writable
from vagus import shutdown
from vagus.config import VagusConfig
from vagus.demo_console import KEY_HINT, ProgressPrinter, patient_keys
from vagus.demo_console import Progress as DemoProgress
from vagus.demo_enrolment import demo_gateway_key, enrol_demo_gateway
from vagus.demo_watch import ChildWatch
from vagus.gateway import Gateway
from vagus.reporting.document import write_report
from vagus.run_dir import EVENTS_FILE, RunDirWriter
from vagus.summary import (
    AuditLog,
    DemoSummary,
    WorkerStats,
    build_summary,
    not_started_summary,
    pacer_summary,
)
from vagus.warmup import warm_up

log = logging.getLogger(__name__)

DEFAULT_RECORDING = Path(__file__).parent / "data" / "demo-session.vrec"
DEFAULT_SPEED = Speed(60.0)
DRAIN_TIMEOUT_S = 30.0
WORKER_READY_TIMEOUT_S = 60.0
#: How long the replay waits for the gateway's command consumer to join its group.
COMMANDS_READY_TIMEOUT_S = 60.0
#: How long the worker may take to stop after SIGTERM: at the end of a run (it writes its last
#: stats), and after a signal or a child's death (the whole shutdown must fit in 5 s).
WORKER_STOP_S = 15.0
WORKER_QUICK_STOP_S = 2.0


_CONTROL_SEQUENCE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _killed_or_exited(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exited with status {status}"


class DemoError(Exception):
    """The demo could not run at all (its worker died or was not ready before the replay)."""


@dataclass(frozen=True)
class DemoOptions:
    recording: Path = DEFAULT_RECORDING
    speed: Speed = DEFAULT_SPEED
    config: VagusConfig = field(default_factory=VagusConfig)
    work_dir: Path | None = None
    #: Where the vibroacoustic rendering of each session goes (a WAV file per session).
    output_dir: Path = Path("out/demo")
    #: Where to show progress while replaying (None: nowhere).
    progress: TextIO | None = None
    #: Read the patient's keys (s, n) from the terminal, when stdin is one.
    patient_keys: bool = False
    #: Keep every event the audit consumer reads here (events.jsonl), for `vagus report`.
    run_dir: Path | None = None
    #: Start a local Apache Kafka (stream.local_kafka) instead of the embedded broker.
    local_kafka: bool = False
    #: After the replay, ingest the demo's topics into this console database (vagus console).
    console_db: str | None = None


@contextlib.asynccontextmanager
async def broker_for(settings: KafkaSettings, work_dir: Path) -> AsyncIterator[KafkaSettings]:
    """Use the configured Kafka, or start the embedded broker for the duration."""
    async with _broker_for(settings, work_dir) as (kafka, _embedded):
        yield kafka


@contextlib.asynccontextmanager
async def _broker_for(
    settings: KafkaSettings, work_dir: Path, *, local_kafka: bool = False
) -> AsyncIterator[tuple[KafkaSettings, LocalBroker | None]]:
    """:func:`broker_for`, also giving the broker started here (None: a configured Kafka):
    the embedded one, or with ``local_kafka`` an Apache Kafka node on loopback."""
    if settings.bootstrap is not None:
        yield settings, None
        return
    broker: LocalBroker = (
        LocalKafka(1) if local_kafka else EmbeddedBroker(log_path=work_dir / "broker.log")
    )
    # Started and stopped on this thread, not a worker thread: PR_SET_PDEATHSIG ties the broker
    # to the thread that spawned it. Both calls block for a fraction of a second.
    try:
        yield settings.for_embedded_broker(broker.start()), broker
    finally:
        if isinstance(broker, LocalKafka):  # its storage goes with it: a controlled shutdown
            broker.kill(0)  # (seconds) keeps nothing, and a signal's shutdown has 5 s in all
        broker.stop()


async def create_topics(settings: KafkaSettings) -> None:
    admin = AIOKafkaAdminClient(request_timeout_ms=TIMEOUTS.request_ms, **settings.client_kwargs())
    try:
        await bounded(admin.start(), TIMEOUTS.connect_s, "the admin client's start")
        created = await bounded(
            ensure_topic_set(admin, settings),  # with each topic's configs (topic_configs)
            TIMEOUTS.request_s * 2,  # a list and a create
            "topic creation",
        )
    finally:
        await admin.close()
    if created:  # Apache Kafka creates them asynchronously: first sends would fail
        try:
            await until_writable(
                settings, created, partitions=settings.partitions, timeout_s=TIMEOUTS.request_s * 2
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("new topics not writable yet (%r); sending all the same", exc)


class WorkerProcess:
    """The closed-loop faust worker as a child process that cannot outlive the demo."""

    def __init__(self, config: VagusConfig, work_dir: Path) -> None:
        self.stats_path = work_dir / "closedloop-stats.json"
        self._log_path = work_dir / "closedloop.log"
        # The worker gets the demo's effective settings (broker address and timings included).
        config_path = work_dir / "closedloop-config.json"
        config_path.write_bytes(msgspec.json.encode(config))
        self._command = [
            sys.executable,
            "-m",
            "vagus",
            "--config",
            str(config_path),
            "closedloop",
            "--stats-file",
            str(self.stats_path),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self._log_path, "ab") as output:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self._command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=killed_with_parent,  # noqa: PLW1509 - prctl only
            )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_status(self) -> int:
        status = None if self._process is None else self._process.poll()
        return 0 if status is None else status

    def log_tail(self) -> str:
        if not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")[-1500:]

    def reason(self, status: int) -> str:
        """Why it ended, in one line: the signal that killed it, or the last error its log
        names (terminal control sequences removed)."""
        if status < 0:
            return _killed_or_exited(status)
        text = _CONTROL_SEQUENCE.sub("", self.log_tail())
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if "Error" in line or "Exception" in line]
        found = (errors or lines or ["it logged nothing"])[-1][:300]
        return f"{_killed_or_exited(status)}: {found}"

    async def exited(self) -> int:
        """Wait until the worker process exits; its exit status (negative: killed by a signal)."""
        if self._process is None:
            raise DemoError("the closed-loop worker was not started")
        return await wait_exit(self._process)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM (faust shuts down gracefully and writes its stats), then SIGKILL."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        return process.returncode


async def run_demo(options: DemoOptions) -> DemoSummary:
    """Run the whole pipeline once and return its summary (with ``run_dir``: also kept there,
    with every event and an HTML report)."""
    writer = RunDirWriter(options.run_dir) if options.run_dir is not None else None
    with tempfile.TemporaryDirectory(prefix="vagus-demo-") as temporary:
        work_dir = options.work_dir or Path(temporary)
        try:
            broker = _broker_for(options.config.kafka, work_dir, local_kafka=options.local_kafka)
            async with broker as (kafka, embedded):
                summary = await _run_with_broker(options, kafka, embedded, work_dir, writer)
                if options.console_db is not None and not summary.get("interrupted"):
                    from vagus.demo_console_db import fill_console_db  # noqa: PLC0415

                    summary |= await fill_console_db(kafka, options.console_db)
        finally:
            if writer is not None:
                writer.close()
    if writer is not None:
        summary = await asyncio.to_thread(_finish_run, writer, summary, options.config)
    return summary


async def _run_with_broker(
    options: DemoOptions,
    kafka: KafkaSettings,
    embedded: LocalBroker | None,
    work_dir: Path,
    run_writer: RunDirWriter | None,
) -> DemoSummary:
    started = time.monotonic()
    await create_topics(kafka)
    enrolled = enrol_demo_gateway(options.config, work_dir, options.recording)
    worker = WorkerProcess(msgspec.structs.replace(enrolled, kafka=kafka), work_dir)
    stop_s = WORKER_QUICK_STOP_S
    try:  # from the moment it exists: Ctrl-C while it starts up must stop it too
        try:
            worker.start()
            # Kernels compile while the worker starts, never during the replay.
            warm = asyncio.create_task(asyncio.to_thread(warm_up, options.config.windows))
            await _wait_ready(worker)
            warmed = await warm
        except asyncio.CancelledError:  # a signal before the replay began: nothing to count
            return not_started_summary(
                recording=options.recording,
                speed=str(options.speed),
                broker=embedded.name if embedded is not None else str(kafka.bootstrap),
                wall_s=time.monotonic() - started,
                interrupted=shutdown.absorb(),
            )
        log.info("DSP kernels ready in %.1f s", warmed.seconds)
        stop_s = WORKER_STOP_S
        summary = await _replay_through(
            options,
            kafka,
            embedded=embedded,
            work_dir=work_dir,
            worker=worker,
            run_writer=run_writer,
            started=started,
        )
        return summary | {"warm_up_s": round(warmed.seconds, 2)}
    finally:
        await asyncio.to_thread(worker.stop, stop_s)  # already stopped after a replay


@dataclass
class _Run:
    """What one replay is made of: the gateway with its devices, and the audit consumer."""

    reader: RecordingReader
    clock: ReplayClock
    pacer: SimulatedDevice
    shaker: WavVibroacousticDevice
    gateway: Gateway
    audit: AuditLog
    audit_producer: EventProducer
    auditor: EventConsumer

    @classmethod
    def build(
        cls,
        options: DemoOptions,
        kafka: KafkaSettings,
        work_dir: Path,
        run_writer: RunDirWriter | None,
    ) -> _Run:
        reader = open_recording(options.recording)
        clock = ReplayClock(options.speed)
        pacer = SimulatedDevice()
        shaker = WavVibroacousticDevice(options.output_dir)
        gateway_config = options.config
        if run_writer is not None:  # events that wait for a broker outlive the run: keep them
            spool = msgspec.structs.replace(
                options.config.spool, directory=str(run_writer.path / "spool")
            )
            gateway_config = msgspec.structs.replace(options.config, spool=spool)
        gateway = Gateway(
            kafka=kafka,
            config=gateway_config,
            patient_id=reader.header.patient_id,
            devices={d.device_id: d for d in reader.header.devices},
            clock=clock,
            output_device=FanOutDevice([pacer, shaker]),
            lockstep=True,  # at every speed: decisions never depend on the host's pace
            interlock_state=work_dir / "interlock.json",
            signing_key=demo_gateway_key(work_dir),
        )
        audit = AuditLog(sink=run_writer.write_event if run_writer is not None else None)
        audit_producer = EventProducer(kafka, producer_id="vagus-demo-audit")
        auditor = EventConsumer(
            kafka,
            group_id=f"vagus-demo-audit-{os.getpid()}",
            topics=kafka.topics.events(),
            handler=audit.record,
            dead_letters=audit_producer,
            consumer_id="vagus-demo-audit",
        )
        return cls(reader, clock, pacer, shaker, gateway, audit, audit_producer, auditor)

    async def stop(self, worker: WorkerProcess, *, quick: bool) -> None:
        """Stop the gateway, the audit consumer and the worker together, each bounded: after a
        signal or a child's death (``quick``) the whole shutdown fits in a few seconds."""
        drain_s = TIMEOUTS.shutdown_drain_s if quick else 5.0
        began = time.monotonic()
        results = await asyncio.gather(
            self.gateway.stop(drain_timeout_s=drain_s),
            self.auditor.stop(),
            self.audit_producer.stop(drain_timeout_s=drain_s),
            asyncio.to_thread(worker.stop, WORKER_QUICK_STOP_S if quick else WORKER_STOP_S),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("while stopping: %r", result)
        log.info("gateway, audit and worker stopped in %.1f s", time.monotonic() - began)


async def _replay_through(
    options: DemoOptions,
    kafka: KafkaSettings,
    *,
    embedded: LocalBroker | None,
    work_dir: Path,
    worker: WorkerProcess,
    run_writer: RunDirWriter | None,
    started: float,
) -> DemoSummary:
    """Replay, drain and summarise. The run ends early, with a summary all the same, when
    SIGINT or SIGTERM arrives (``interrupted``) or when the worker or the embedded broker exits
    (``worker_died``, ``broker_died``): every event is then delivered, still spooled (on disk,
    in the run folder when there is one) or counted lost."""
    run = _Run.build(options, kafka, work_dir, run_writer)
    gateway = run.gateway
    stop_audit = asyncio.Event()
    audit_task: asyncio.Task[None] | None = None
    stop_progress = asyncio.Event()
    progress_task: asyncio.Task[None] | None = None
    watch = ChildWatch()
    watch.watch("worker", worker.exited(), worker.reason)
    if embedded is not None:
        watch.watch("broker", embedded.exited(), _killed_or_exited)
    interrupted: str | None = None
    completed = False
    try:
        try:
            await run.audit_producer.start()
            await run.auditor.start()
            audit_task = asyncio.create_task(run.auditor.run(stop_audit), name="audit")
            await gateway.start()
            if options.progress is not None:
                progress = _progress_reader(
                    gateway, run.clock, run.reader.header.start_time_ns, options.recording
                )
                printer = ProgressPrinter(progress, options.progress)
                progress_task = asyncio.create_task(printer.run(stop_progress), name="progress")
            with patient_keys(gateway.control) if options.patient_keys else _no_keys() as keys:
                if keys and options.progress is not None:
                    print(KEY_HINT, file=options.progress)
                completed = await watch.run(_commands_ready(gateway))
                completed = completed and await watch.run(_feed(run.reader, run.clock, gateway))
            completed = completed and await watch.run(_finish_replay(gateway))
            completed = completed and await watch.run(_drain(gateway, run.audit, worker))
        except asyncio.CancelledError:
            interrupted = shutdown.absorb()  # a cancellation without a signal goes on up
    finally:
        await watch.closed()
        stop_progress.set()
        stop_audit.set()
        for task in (progress_task, audit_task):
            if task is not None:
                await asyncio.wait({task}, timeout=TIMEOUTS.stop_s)
                task.cancel()
        await run.stop(worker, quick=not completed)
    return build_summary(
        gateway=gateway,
        audit=run.audit,
        auditor=run.auditor,
        worker=WorkerStats.read(worker.stats_path),
        recording=options.recording,
        read_report=run.reader.report,
        speed=str(options.speed),
        broker=embedded.name if embedded is not None else str(kafka.bootstrap),
        wall_s=time.monotonic() - started,
    ) | {
        "pacer": pacer_summary(run.pacer),
        "vibroacoustic_files": [str(path) for path in run.shaker.written],
        "recording_time_held_s": round(run.clock.held_ns / 1e9, 1),
        "completed": completed,
        "interrupted": interrupted,
        "worker_died": watch.died.get("worker"),
        "broker_died": watch.died.get("broker"),
    }


async def _feed(reader: RecordingReader, clock: ReplayClock, gateway: Gateway) -> None:
    async for record in replay(reader, clock):
        await gateway.handle(record)
        gateway.check_alive()


async def _commands_ready(gateway: Gateway) -> None:
    """Wait until the gateway's command consumer has joined its group. At full speed the first
    episode comes within a second or two of wall time, and a group join took about a second on
    the embedded broker (measured: JoinGroup sent, answered 1.0 s later): the first command
    waited for the join, and the summary's latency measured that, not the path from a window
    to the device."""
    try:
        await gateway.commands.wait_assigned(COMMANDS_READY_TIMEOUT_S)
    except TimeoutError as exc:
        raise DemoError(
            f"the gateway's command consumer joined no group in {COMMANDS_READY_TIMEOUT_S:.0f} s"
        ) from exc


async def _finish_replay(gateway: Gateway) -> None:
    await gateway.finish()
    await gateway.runner.wait_idle()
    await gateway.producer.flush()


@contextlib.contextmanager
def _no_keys() -> Iterator[bool]:
    yield False


def _progress_reader(
    gateway: Gateway, clock: ReplayClock, start_ns: int, recording: Path
) -> Callable[[], DemoProgress | None]:
    """Progress as the gateway sees it (recording time from the replay clock)."""
    total_s = _recording_length_s(recording, start_ns)

    def read() -> DemoProgress | None:
        if not clock.started:
            return None
        return DemoProgress(
            recording_s=min(total_s, (clock.now_ns() - start_ns) / 1e9),
            total_s=total_s,
            windows=gateway.pipeline.counters.windows,
            episodes=gateway.pipeline.counters.episodes,
            sessions=sum(o.status == "started" for o in gateway.stats.outcomes),
        )

    return read


def _recording_length_s(recording: Path, start_ns: int) -> float:
    """The recording's length from its last record's time (one quick pass, no decoding)."""
    last_ns = start_ns
    for record in open_recording(recording):
        last_ns = max(last_ns, getattr(record, "gateway_time_ns", last_ns))
    return (last_ns - start_ns) / 1e9


def _finish_run(writer: RunDirWriter, summary: DemoSummary, config: VagusConfig) -> DemoSummary:
    """Write the run's summary and its HTML report next to its events; the summary names both.
    After SIGINT or SIGTERM only the summary: the report (seconds of work) would break the 5 s
    promise, and `vagus report` makes it from the run folder at any time."""
    run_dir = writer.path
    summary = summary | {"run_dir": str(run_dir), "events_file": str(run_dir / EVENTS_FILE)}
    writer.write_summary(summary)
    if summary.get("interrupted"):
        return summary
    report = write_report(run_dir, run_dir / "report.html", config)
    summary = summary | {"report": str(report.path)}
    writer.write_summary(summary)
    return summary


async def _wait_ready(worker: WorkerProcess) -> None:
    """Start replaying once the worker owns its partitions and has restored their state, so
    the demo's latency figures measure the pipeline, not the worker's start-up."""
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not worker.alive():
            status = worker.exit_status()
            raise DemoError(f"the closed-loop worker died while starting: {worker.reason(status)}")
        if WorkerStats.read(worker.stats_path).ready:
            return
        await asyncio.sleep(0.1)
    raise DemoError(f"the closed-loop worker was not ready in {WORKER_READY_TIMEOUT_S:.0f} s")


async def _drain(gateway: Gateway, audit: AuditLog, worker: WorkerProcess) -> None:
    """Wait until the loop has seen every input and the auditor every event (the caller then
    stops the worker, which writes its final stats)."""
    loop_inputs = gateway.ledger.ids(
        {gateway.producer.settings.topics.name(t) for t in ("stress", "outcomes", "sleep")}
    )
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    stats = WorkerStats.read(worker.stats_path)
    while time.monotonic() < deadline:
        stats = WorkerStats.read(worker.stats_path)
        produced = gateway.ledger.ids() | stats.produced_ids()
        if loop_inputs <= stats.admitted and produced <= audit.ids and not gateway.runner.busy:
            break
        await asyncio.sleep(0.2)
