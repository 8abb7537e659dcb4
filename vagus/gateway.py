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
import contextlib
import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import msgspec

from hardware.clock import Clock
from hardware.devices import OutputDevice
from hardware.limits import Interlock, InterlockStore
from hardware.runner import SessionRunner
from ingest.decoder_set import DecoderSet
from ingest.errors import DecodeError
from ingest.recording import DeviceEntry, DeviceRecord, Marker, NotificationRecord
from ingest.transport.gaps import GAP_MARKER_LABEL, Gap
from stream.consumer import EventConsumer
from stream.events import AnyEvent, InterventionCommand, InterventionOutcome, LoopDecision
from stream.settings import KafkaSettings
from stream.spool import Spool
from stream.spooling_producer import SpoolingProducer
from vagus.config import VagusConfig
from vagus.gateway_stats import GatewayStats, Ledger
from vagus.pipeline import ClosedWindow, FeaturePipeline
from vagus.state_paths import StatePaths

log = logging.getLogger(__name__)

LOCKSTEP_TIMEOUT_S = 30.0
#: How many window close times to remember for latency figures (bounded for weeks of uptime).
_LATENCY_MEMORY = 4096


class Gateway:
    """One patient's gateway.

    Events leave through a store-and-forward producer: a disk spool under ``state_dir`` holds
    them while Kafka is unreachable (and across restarts), and the gateway writes a small status
    file there for `vagus doctor`. Without ``state_dir`` (demo, tests) both live in a temporary
    directory removed at :meth:`stop`.
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
    ) -> None:
        self.patient_id = patient_id
        self.stats = GatewayStats()
        self.ledger = Ledger()
        self._lockstep = lockstep
        self._decoders = DecoderSet(devices)
        self._temporary_state: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._temporary_state = tempfile.TemporaryDirectory(prefix="vagus-gateway-")
            state_dir = Path(self._temporary_state.name)
        self.paths = StatePaths.under(state_dir, config.spool.directory)
        self.pipeline = FeaturePipeline(
            patient_id=patient_id,
            producer_id=producer_id,
            windows=config.windows,
            stress=config.stress_model,
            state_dir=state_dir,  # the patient's calibration baseline survives restarts
        )
        self.producer = SpoolingProducer(
            kafka,
            producer_id=producer_id,
            spool=Spool(self.paths.spool_dir, config.spool),
            sensors=[self.ledger],
            status_path=self.paths.status_file,
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

    async def start(self) -> None:
        await self.producer.start()
        await self.commands.start()
        self._consumer_task = asyncio.create_task(self.commands.run(self._stop), name="commands")

    def check_alive(self) -> None:
        """Raise the command consumer's failure, if it died, instead of running on deaf."""
        task = self._consumer_task
        if task is not None and task.done() and not task.cancelled():
            failure = task.exception()
            if failure is not None:
                raise RuntimeError("the gateway's command consumer failed") from failure

    async def stop(self) -> None:
        self._stop.set()
        if self._consumer_task is not None:
            with contextlib.suppress(Exception):  # already reported by check_alive
                await self._consumer_task
        await self.runner.abort()
        await self.commands.stop()
        await self.producer.stop()
        if self._temporary_state is not None:
            self._temporary_state.cleanup()

    async def handle(self, item: NotificationRecord | Marker | DeviceRecord) -> None:
        """Take one replayed or live record through decoding, DSP and out to Kafka."""
        if isinstance(item, Marker):
            self.stats.markers.append(item)
            if item.label == GAP_MARKER_LABEL:
                self._mark_gap(item)
            return
        if isinstance(item, DeviceRecord):
            self._decoders.declare(item.device)
            return
        self.stats.notifications += 1
        try:
            blocks = self._decoders.decode(item)
        except DecodeError as exc:
            key = f"{item.device_id}/{item.characteristic}"
            if not self.stats.decode_errors[key]:
                log.warning("decode error on %s: %s (counting further ones)", key, exc)
            self.stats.decode_errors[key] += 1
            return
        for block in blocks:
            self.pipeline.add(block)
        await self._publish(self.pipeline.advance(item.gateway_time_ns))

    def _mark_gap(self, marker: Marker) -> None:
        """Tell the pipeline which data is missing, so no interval or filter spans the hole."""
        try:
            gap = msgspec.json.decode(marker.detail, type=Gap)
            self.pipeline.mark_gap(gap.stream, gap.start_ns, gap.end_ns, device_id=gap.device_id)
        except (msgspec.DecodeError, ValueError) as exc:
            self.stats.bad_gap_markers += 1
            log.warning("unreadable gap marker at %d ns: %s", marker.gateway_time_ns, exc)

    async def finish(self) -> None:
        """The source ended: close the last windows and let a running session finish."""
        await self._publish(self.pipeline.finish())
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
        """Wait for the loop's decision on ``trigger_id`` and for the command it carries."""
        try:
            async with asyncio.timeout(LOCKSTEP_TIMEOUT_S):
                await self._decided.setdefault(trigger_id, asyncio.Event()).wait()
                command_id = self._decisions.pop(trigger_id).command_id
                if command_id is not None:
                    await self._commands_done.setdefault(command_id, asyncio.Event()).wait()
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

    async def _emit_outcome(self, outcome: InterventionOutcome) -> None:
        self.stats.outcomes.append(outcome)
        await self.producer.send_and_wait(outcome)
