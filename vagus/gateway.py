"""The gateway process: notifications in, events to Kafka, commands to the output device.

Composition only: decoding is ingest's, numbers are dsp's (through the pipeline), transport is
stream's and sessions are hardware's. Live BLE and replay call the same :meth:`Gateway.handle`.

At maximum replay speed the gateway runs in *lockstep* with the closed loop: after a window the
loop must decide on (an episode start, or a score during an episode), it waits for that decision
and any command it carries before replaying further. Without this, a replay running at hundreds
of times real time would reach the device minutes of recording time after the decision.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from hardware.clock import Clock
from hardware.control import PatientControl, PatientRequest
from hardware.devices import OutputDevice
from hardware.limits import Interlock, InterlockStore
from hardware.runner import SessionRunner
from ingest.private_files import private_dir
from ingest.recording import DeviceEntry, DeviceRecord, Marker, NotificationRecord
from stream.consumer import EventConsumer
from stream.events import AnyEvent, InterventionCommand, InterventionOutcome, LoopDecision
from stream.events import PatientControl as PatientControlEvent
from stream.settings import KafkaSettings
from stream.signing import GatewayKey
from stream.spool import Spool
from stream.spooling_producer import SpoolingProducer
from vagus.config import VagusConfig
from vagus.control_socket import SOCKET_NAME, ControlServer
from vagus.gateway_key import signing_key as enrolled_key
from vagus.gateway_stats import GatewayStats, Ledger
from vagus.pipeline import ClosedWindow
from vagus.record_driver import RecordDriver
from vagus.state_paths import StatePaths

log = logging.getLogger(__name__)

LOCKSTEP_TIMEOUT_S = 30.0
#: How long the stop path waits for the command consumer before cancelling it (it sees the stop
#: within one bounded fetch; only a connection attempt to a silent address takes longer).
STOP_CONSUMER_S = 1.0
#: How many window close times to remember for latency figures (bounded for weeks of uptime).
_LATENCY_MEMORY = 4096


class Gateway:
    """One patient's gateway.

    Events leave through a store-and-forward producer: a disk spool under ``state_dir`` holds
    them while Kafka is unreachable (and across restarts), and the gateway writes a small status
    file there for `vagus doctor`. Without ``state_dir`` (demo, tests) both live in a temporary
    directory removed at :meth:`stop`.

    Every event is signed with the gateway's key (``signing_key``, else the key file in
    ``state_dir`` that `vagus enrol` wrote): the closed loop acts on nothing else. Without one
    the gateway runs all the same and says so once (vagus.gateway_key).
    """

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        config: VagusConfig,
        patient_id: str,
        devices: Mapping[str, str | DeviceEntry],
        clock: Clock,
        output_device: OutputDevice,
        lockstep: bool,
        interlock_state: Path | None = None,
        producer_id: str = "vagus-gateway",
        state_dir: Path | None = None,
        create_topics: bool = False,
        signing_key: GatewayKey | None = None,
    ) -> None:
        self.patient_id = patient_id
        self.stats = GatewayStats()
        self.ledger = Ledger()
        self._lockstep = lockstep
        self._temporary_state: tempfile.TemporaryDirectory[str] | None = None
        #: A temporary state directory kept at stop because events still wait in its spool.
        self.kept_state_dir: Path | None = None
        if state_dir is None:
            self._temporary_state = tempfile.TemporaryDirectory(prefix="vagus-gateway-")
            state_dir = Path(self._temporary_state.name)
        private_dir(state_dir)  # health data lives here: owner-only, even if made by an old version
        self.paths = StatePaths.under(state_dir, config.spool.directory)
        if signing_key is None:
            signing_key = enrolled_key(self.paths.key_file, patient_id)
        self.signing_key = signing_key
        self.driver = RecordDriver.build(
            devices=devices,
            config=config,
            patient_id=patient_id,
            producer_id=producer_id,
            state_dir=state_dir,  # the patient's calibration baseline survives restarts
            stats=self.stats,
        )
        self.pipeline = self.driver.pipeline
        self.producer = SpoolingProducer(
            kafka,
            producer_id=producer_id,
            spool=Spool(self.paths.spool_dir, config.spool),
            sensors=[self.ledger],
            status_path=self.paths.status_file,
            create_topics=create_topics,  # in the background, once the broker answers
            signing_key=signing_key,
        )
        self.runner = SessionRunner(
            device=output_device,
            interlock=Interlock(
                config.device_limits.to_limits(),
                store=InterlockStore(interlock_state) if interlock_state else None,
            ),
            clock=clock,
            emit=self._emit_outcome,
            producer_id=producer_id,
        )
        topics = kafka.topics
        self.commands = EventConsumer(
            kafka,
            group_id=f"vagus-gateway-{patient_id}",
            topics=[topics.name("commands"), topics.name("decisions")],
            handler=self._on_loop_event,
            dead_letters=self.producer,
            consumer_id=f"{producer_id}-commands",
        )
        self._closed_wall_ns: dict[str, int] = {}
        self._decided: dict[str, asyncio.Event] = {}
        self._decisions: dict[str, LoopDecision] = {}
        self._commands_done: dict[str, asyncio.Event] = {}
        self._stop = asyncio.Event()
        self._consumer_task: asyncio.Task[None] | None = None
        self._producer_id = producer_id
        #: "Not now" keeps the device silent this long (the loop holds for its policy's cooldown).
        self._not_now_s = config.policy.cooldown_s
        #: The patient's controls (buttons, terminal, `vagus session`) all lead here.
        self.control = PatientControl(self._on_patient_request)
        self._control_server = ControlServer(state_dir / SOCKET_NAME, self.control)

    async def start(self) -> None:
        """Start without waiting for the broker: events spool until it answers, and the command
        consumer connects in the background (an unreachable broker is a logged warning)."""
        await self.producer.start()
        self._consumer_task = asyncio.create_task(self._consume(), name="commands")
        self.control.bind()
        await self._control_server.start()

    async def _consume(self) -> None:
        if await self.commands.connect(self._stop):
            await self.commands.run(self._stop)

    def check_alive(self) -> None:
        """Raise the command consumer's failure, if it died, instead of running on deaf."""
        task = self._consumer_task
        if task is not None and task.done() and not task.cancelled():
            failure = task.exception()
            if failure is not None:
                raise RuntimeError("the gateway's command consumer failed") from failure

    async def stop(self, *, drain_timeout_s: float = 5.0) -> None:
        """Stop everything within a few seconds whatever the broker does; events the broker has
        not taken within ``drain_timeout_s`` stay in the spool. A temporary state directory is
        removed only when its spool is empty; otherwise it is kept (``kept_state_dir``) and
        named in a warning, never deleted with events in it."""
        self._stop.set()
        await self._control_server.stop()
        await self.control.settle()
        task = self._consumer_task
        if task is not None:
            # Bounded: a connection attempt to a silent address must not hold the shutdown.
            await asyncio.wait({task}, timeout=STOP_CONSUMER_S)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved: a failure was already reported by check_alive
        await self.runner.abort("gateway:shutdown")
        await self.commands.stop()
        await self.producer.stop(drain_timeout_s=drain_timeout_s)
        if self._temporary_state is not None:
            if len(self.producer.spool):
                self.kept_state_dir = self.paths.state_dir
                log.warning(
                    "%d events wait in %s (kept)", len(self.producer.spool), self.paths.spool_dir
                )
            else:
                self._temporary_state.cleanup()

    async def handle(self, item: NotificationRecord | Marker | DeviceRecord) -> None:
        """Take one replayed or live record through decoding, DSP (the shared
        :class:`RecordDriver`, as `vagus analyze` does) and out to Kafka."""
        closed = self.driver.handle(item)
        for notice in self.driver.take_notices():
            await self.producer.send(notice)
        await self._publish(closed)

    async def finish(self) -> None:
        """The source ended: close the last windows and let a running session finish."""
        await self._publish(self.driver.finish())
        for notice in self.driver.take_notices():  # gaps found after the last window
            await self.producer.send(notice)
        await self.producer.flush()

    async def _publish(self, closed: list[ClosedWindow]) -> None:
        for window in closed:
            closed_at = time.time_ns()
            for event_id in [window.window.event_id, *window.decision_triggers]:
                self._closed_wall_ns[event_id] = closed_at
            while len(self._closed_wall_ns) > _LATENCY_MEMORY:
                del self._closed_wall_ns[next(iter(self._closed_wall_ns))]
            await self.producer.send(window.window)
            for event in window.events:
                await self.producer.send(event)
            if self._lockstep and window.decision_triggers:
                await self.producer.flush()
                for trigger_id in window.decision_triggers:
                    await self._await_decision(trigger_id)

    async def _await_decision(self, trigger_id: str) -> None:
        """Wait for the loop's decision on ``trigger_id`` and for the command it carries; not
        while the broker is known unreachable (no decision can come through it): the window
        waits in the spool and the replay moves on (``lockstep_skipped``)."""
        gone = self.producer.unreachable
        try:
            async with asyncio.timeout(LOCKSTEP_TIMEOUT_S):
                decided = self._decided.setdefault(trigger_id, asyncio.Event())
                if not await _set_first(decided, unless=gone):
                    self.stats.lockstep_skipped += 1
                    return
                command_id = self._decisions.pop(trigger_id).command_id
                if command_id is not None:
                    done = self._commands_done.setdefault(command_id, asyncio.Event())
                    if not await _set_first(done, unless=gone):
                        self.stats.lockstep_skipped += 1
        except TimeoutError:
            self.stats.lockstep_timeouts += 1
            log.warning("no closed-loop decision within %.0f s; going on", LOCKSTEP_TIMEOUT_S)
        finally:
            self._decided.pop(trigger_id, None)

    async def _on_loop_event(self, event: AnyEvent) -> None:
        if event.patient_id != self.patient_id:
            return  # another gateway's patient
        now = time.time_ns()
        if isinstance(event, InterventionCommand):
            self.stats.commands_received.append(event)
            window_wall = self._closed_wall_ns.get(event.reason.trigger_window_id or "")
            if window_wall is not None:
                self.stats.command_latency_ms.append((now - window_wall) / 1e6)
            await self.runner.handle(event)
            self.stats.handled_command_ids.append(event.event_id)
            self._commands_done.setdefault(event.event_id, asyncio.Event()).set()
        elif isinstance(event, LoopDecision):
            self.stats.decisions += 1
            closed_at = self._closed_wall_ns.get(event.trigger_event_id)
            if closed_at is not None:
                self.stats.decision_latency_ms.append((now - closed_at) / 1e6)
            if self._lockstep:
                self._decisions[event.trigger_event_id] = event
                self._decided.setdefault(event.trigger_event_id, asyncio.Event()).set()

    async def _on_patient_request(self, request: PatientRequest) -> None:
        """Stop at once (the outcome says ``aborted by patient:<control>``); for "not now" also
        silence the device's interlock for the cooldown. Then tell the loop, which holds too."""
        stopped = await self.runner.abort(request.by)
        now = self.runner.clock.now_ns()
        quiet_until = None
        if request.action == "not_now":
            quiet_until = now + int(self._not_now_s * 1e9)
            self.runner.interlock.quiet_until(quiet_until)
        event = PatientControlEvent(
            patient_id=self.patient_id,
            producer_id=self._producer_id,
            gateway_time_ns=now,
            action=request.action,
            source=request.source,
            command_id=stopped.event_id if stopped is not None else None,
            quiet_until_ns=quiet_until,
        )
        self.stats.patient_controls.append(event)
        await self.producer.send_and_wait(event)

    async def _emit_outcome(self, outcome: InterventionOutcome) -> None:
        self.stats.outcomes.append(outcome)
        await self.producer.send_and_wait(outcome)


async def _set_first(wanted: asyncio.Event, *, unless: asyncio.Event) -> bool:
    """Wait until ``wanted`` or ``unless`` is set; True when ``wanted`` is."""
    if wanted.is_set() or unless.is_set():
        return wanted.is_set()
    waits = [asyncio.ensure_future(wanted.wait()), asyncio.ensure_future(unless.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return wanted.is_set()
