"""The live gateway's composition: configured wearables over BLE, into a recording or through
:class:`vagus.gateway.Gateway` to Kafka.

Everything BLE is :mod:`ingest.transport`; this module only wires it to the configuration, the
recording writer and the gateway. The transport's gaps reach the gateway as the markers a
recording holds, and its pipeline reports them (``stream_gap``), as it does in a replay.
``backend="virtual"`` swaps BlueZ for :mod:`ingest.virtual.world`'s in-process sensors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.recording import (
    DeviceRecord,
    Marker,
    NotificationRecord,
    RecordingHeader,
    RecordingWriter,
)
from ingest.transport.backoff import Backoff
from ingest.transport.identity import load_or_create_secret
from ingest.transport.manager import Transport
from ingest.transport.session import DeviceStatus
from ingest.transport.startup import DeviceInformation
from ingest.transport.targets import BleBackend, DeviceTarget
from stream.timeouts import TIMEOUTS
from vagus import shutdown
from vagus.config import ConfigError, VagusConfig
from vagus.gateway_metrics import gateway_metrics
from vagus.health import HealthReporter, reporting
from vagus.metrics import serving_metrics
from vagus.service_notify import ServiceNotifier, watchdog_running
from vagus.state_paths import state_paths
from vagus.structured_logs import set_log_patient

if TYPE_CHECKING:
    from vagus.gateway import Gateway

log = logging.getLogger(__name__)

VIRTUAL_PATIENT_ID = "p-000000000001"
"""Whose data the virtual wearables are, when the configuration names no patient."""
PRODUCER_ID = "vagus-gateway"


def state_dir(config: VagusConfig) -> Path:
    """``[live] state_dir``, the place the spool and `vagus doctor` use too."""
    return state_paths(config).state_dir


def patient_id(config: VagusConfig, backend: str) -> str:
    if config.live.patient_id is not None:
        return config.live.patient_id
    if backend == "virtual":
        return VIRTUAL_PATIENT_ID
    raise ConfigError("set [live] patient_id (the patient's pseudonym) to run live")


def configured_targets(config: VagusConfig) -> list[DeviceTarget]:
    targets = [
        DeviceTarget(d.profile, address=d.address, name_prefix=d.name_prefix, label=d.label)
        for d in config.devices
    ]
    keys = [(t.address or "").upper() or t.name_prefix for t in targets]
    if len(set(keys)) != len(keys):
        raise ConfigError("devices: the same address or name_prefix is configured twice")
    return targets


@contextlib.asynccontextmanager
async def ble_backend(
    config: VagusConfig, backend: str, *, need_targets: bool = True
) -> AsyncIterator[tuple[BleBackend, list[DeviceTarget]]]:
    """The bleak backend and the targets: configured ones, or (virtual) the virtual wearables."""
    targets = configured_targets(config)
    if backend != "virtual":
        if need_targets and not targets:
            raise ConfigError("no [[devices]] configured (see docs/devices.md)")
        yield BleBackend(), targets
        return
    from ingest.virtual.world import VIRTUAL_DEVICES, virtual_wearables  # noqa: PLC0415

    async with virtual_wearables() as world:
        defaults = [DeviceTarget(p, name_prefix=n, label=lbl) for p, n, lbl in VIRTUAL_DEVICES]
        yield (
            BleBackend(world.radio.scanner_backend(), world.radio.client_backend()),
            targets or defaults,
        )


def make_transport(
    config: VagusConfig,
    *,
    targets: list[DeviceTarget],
    backend: BleBackend,
    sink: Callable[[NotificationRecord | Marker | DeviceRecord], Awaitable[None]],
) -> Transport:
    return Transport(
        targets,
        secret=load_or_create_secret(state_dir(config)),
        sink=sink,
        backend=backend,
        backoff=lambda: Backoff(cap_s=config.live.reconnect_cap_s),
        scan_timeout_s=config.live.scan_timeout_s,
    )


async def run_for(
    transport: Transport,
    seconds: float | None,
    *extra_checks: Callable[[], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Keep the transport running ``seconds`` (None: until cancelled or ``stop``), failing
    loudly if a session, the sink or an ``extra_check`` fails."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while (deadline is None or time.monotonic() < deadline) and not (stop and stop.is_set()):
        step = 0.25 if deadline is None else min(0.25, max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(step)
        transport.check_alive()
        for check in extra_checks:
            check()


def describe(status: DeviceStatus) -> dict[str, Any]:
    """A device's status as the commands print it (no address, no advertised name)."""
    row = asdict(status)
    info = row.pop("info") or dict.fromkeys(f.name for f in fields(DeviceInformation))
    return row | info | {"info_read": status.info is not None}


async def record_live(
    config: VagusConfig, *, seconds: float, output: Path, backend: str
) -> dict[str, Any]:
    """Write the raw notifications of the configured devices (and gap markers) to ``output``."""
    header = RecordingHeader(
        patient_id=patient_id(config, backend),
        start_time_ns=time.time_ns(),
        devices=[],  # each device joins with a DeviceRecord once it is found
        producer="vagus record",
        simulated=backend == "virtual",
    )
    async with ble_backend(config, backend) as (ble, targets):
        with RecordingWriter(output, header) as writer:

            async def sink(item: NotificationRecord | Marker | DeviceRecord) -> None:
                if isinstance(item, NotificationRecord):
                    writer.write_notification(item.to_notification())
                elif isinstance(item, Marker):
                    writer.write_marker(item.gateway_time_ns, item.label, item.detail)
                else:
                    writer.add_device(item.device)

            transport = make_transport(config, targets=targets, backend=ble, sink=sink)
            interrupted = None
            try:
                async with transport:
                    await run_for(transport, seconds)
            except asyncio.CancelledError:  # SIGINT/SIGTERM: what was recorded is kept
                interrupted = shutdown.absorb()
            records = writer.records_written
    return {
        "recording": str(output),
        "seconds": seconds,
        "records": records,
        "devices": [describe(s) for s in transport.statuses()],
        "interrupted": interrupted,
    }


async def device_status(
    config: VagusConfig, *, seconds: float, backend: str
) -> list[dict[str, Any]]:
    """Connect to each configured device (up to ``seconds``), read its status, disconnect."""

    async def discard(_item: NotificationRecord | Marker | DeviceRecord) -> None:
        return None

    async with ble_backend(config, backend) as (ble, targets):
        transport = make_transport(config, targets=targets, backend=ble, sink=discard)
        async with transport:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not all(
                s.info is not None for s in transport.statuses()
            ):
                await asyncio.sleep(0.1)
                transport.check_alive()
            return [describe(s) for s in transport.statuses()]


def ble_stall_limit_s(config: VagusConfig) -> float:
    """How long a device session may go without progress before the watchdog holds back.

    One turn of a session is a scan (``scan_timeout_s``), a connection attempt (bleak's
    retries: about a minute at worst) and a back-off of up to ``reconnect_cap_s``; each ends
    with progress. Twice the longest turn cannot be a sensor merely away from the patient.
    """
    return 2 * (config.live.scan_timeout_s + 60.0 + config.live.reconnect_cap_s)


def health_reporter(config: VagusConfig, gateway: Gateway, transport: Transport) -> HealthReporter:
    """The gateway's ``gateway_health`` reports over the transport's device sessions."""
    return HealthReporter(
        sources=transport.sessions,
        producer=gateway.producer,
        patient_id=gateway.patient_id,
        producer_id=gateway.producer.producer_id,
        interval_s=config.live.health_interval_s,
    )


async def gateway_over(
    config: VagusConfig,
    *,
    ble: BleBackend,
    targets: list[DeviceTarget],
    patient: str,
    seconds: float | None,
    stop: asyncio.Event | None = None,
    pin_factory: Any = None,
) -> dict[str, Any]:
    """The live gateway on a given broker (``config.kafka``) and BLE backend, until ``seconds``
    pass, ``stop`` is set or the task is cancelled; returns what it did. Sessions run on the
    configured ``[[outputs]]``, and the ``[[controls]]`` (gpiozero's ``pin_factory``) and a
    band's button reach the gateway's patient control."""
    from hardware.clock import WallClock  # noqa: PLC0415
    from vagus.gateway import Gateway  # noqa: PLC0415
    from vagus.outputs import build_outputs, warn_without_outputs  # noqa: PLC0415
    from vagus.warmup import warm_up  # noqa: PLC0415

    set_log_patient(patient)  # every log line from here on carries the pseudonym
    service = ServiceNotifier.from_environment()
    # Before any device is read: a cold kernel cache compiles for about a minute (x86), for
    # minutes on a Pi; systemd's watchdog starts with READY=1, after this.
    service.notify("STATUS=preparing the signal-processing kernels")
    warm = await asyncio.to_thread(warm_up, config.windows)
    log.info("DSP kernels ready in %.1f s (%d warm-up windows)", warm.seconds, warm.windows)
    warn_without_outputs(config, real_bluetooth=ble.client is None)
    secret = load_or_create_secret(state_dir(config))
    outputs = build_outputs(config, ble=ble, secret=secret, pin_factory=pin_factory)
    gateway = Gateway(
        kafka=config.kafka,
        config=config,
        patient_id=patient,
        devices={},  # each device joins with a DeviceRecord once it is found
        clock=WallClock(),
        output_device=outputs.device,
        lockstep=False,
        interlock_state=state_dir(config) / "interlock.json",
        state_dir=state_dir(config),  # the spool and the status file `vagus doctor` reads
        create_topics=True,  # once the broker answers: the gateway starts without one
    )
    # the transport's gaps reach the gateway as markers, which its pipeline reports as
    # stream_gap events: the path a replay of this session's recording takes too
    transport = make_transport(config, targets=targets, backend=ble, sink=gateway.handle)
    # Bands connected and buttons claimed before the first command can arrive; released only
    # after the gateway has ended its last session (the band's last write is its 0).
    interrupted = None
    stall_limit_s = ble_stall_limit_s(config)
    reporter = health_reporter(config, gateway, transport)  # gateway_health: batteries, backlog

    def healthy() -> str | None:
        """What the service watchdog pings on: the loop runs it, the BLE stack answers."""
        stalled = transport.longest_stall_s()
        if stalled > stall_limit_s:
            return f"no BLE progress for {stalled:.0f} s (limit {stall_limit_s:.0f} s)"
        try:
            transport.check_alive()
            gateway.check_alive()
        except Exception as exc:  # noqa: BLE001 - reported as the unhealthy reason
            return f"{exc}: {exc.__cause__ or ''}".rstrip(": ")
        return None

    async with outputs.running(gateway.control):
        await gateway.start()
        try:
            try:
                async with (
                    transport,
                    reporting(reporter) as health,
                    watchdog_running(service, healthy),
                    serving_metrics(
                        lambda lag: gateway_metrics(gateway, transport, lag),
                        config.live.metrics_port,
                    ),
                ):
                    service.ready(f"gateway for {patient}: {len(targets)} device(s) configured")
                    checks = (gateway.check_alive, health.check_alive)
                    await run_for(transport, seconds, *checks, stop=stop)
                await gateway.finish()
            except asyncio.CancelledError:  # SIGINT/SIGTERM: stop promptly, with the summary
                interrupted = shutdown.absorb()
        finally:
            service.stopping("draining the spool and the producer")
            drain_s = TIMEOUTS.shutdown_drain_s if interrupted else 5.0
            await gateway.stop(drain_timeout_s=drain_s)
    stats = gateway.stats
    return {
        "patient_id": patient,
        "notifications": stats.notifications,
        "decode_errors": sum(stats.decode_errors.values()),
        "refused_samples": sum(gateway.driver.decoders.refused_samples().values()),
        "windows": gateway.pipeline.counters.windows,
        "stream_gaps_sent": gateway.pipeline.counters.stream_gaps,
        # a stream another device fed: kept out of the features (the recording has them)
        "kept_out_blocks": sum(gateway.pipeline.kept_out.values()),
        "health_reports_sent": reporter.reports_sent,
        "spooled": len(gateway.producer.spool),  # waiting on disk for the next start
        "devices": [describe(s) for s in transport.statuses()],
        "outputs": [output.title for output in outputs.built],
        "interrupted": interrupted,
    }
