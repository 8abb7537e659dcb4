"""The gateway's health reports: each device's battery and link, and the spool's backlog.

A strap that runs flat or a gateway whose events pile up in its spool looks, on the console,
like a patient who stopped wearing the sensors, until hours later. So the live gateway sends a
``gateway_health`` event (stream.events.GatewayHealth) when a device connects (its battery was
just read by the session's start-up) and every ``[live] health_interval_s``; each periodic
report re-reads Battery Level through the open connection. It goes out through the gateway's
signed, spooled producer like every other event: a gateway cut off from the broker reports its
backlog once the broker answers again, with the age the backlog had when the report was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from ingest.transport.session import DeviceStatus
from stream.events import DeviceBattery, GatewayHealth

if TYPE_CHECKING:
    from stream.spooling_producer import SpoolingProducer

log = logging.getLogger(__name__)

#: How often the reporter looks for a newly connected device.
POLL_S = 0.5
#: How long stopping waits for a report under way (a battery read is bounded at 5 s).
STOP_WAIT_S = 6.0
#: Reports kept in memory (a day's at the default interval): the gateway runs for weeks.
KEPT_REPORTS = 96


class BatterySource(Protocol):
    """One device session as the reporter sees it (ingest.transport.session.DeviceSession)."""

    @property
    def status(self) -> DeviceStatus: ...

    @property
    def ready_connections(self) -> int: ...

    async def read_battery(self) -> int | None: ...


class HealthReporter:
    """Builds and sends ``gateway_health`` for one patient's gateway."""

    def __init__(
        self,
        *,
        sources: Sequence[BatterySource],
        producer: SpoolingProducer,
        patient_id: str,
        producer_id: str,
        interval_s: float,
        clock: Callable[[], int] = time.time_ns,
        poll_s: float = POLL_S,
    ) -> None:
        self.sources = list(sources)
        self.producer = producer
        self.patient_id = patient_id
        self.producer_id = producer_id
        self.interval_s = interval_s
        self.clock = clock
        self.poll_s = poll_s
        #: The latest reports sent (at most KEPT_REPORTS); ``reports_sent`` counts them all.
        self.sent: deque[GatewayHealth] = deque(maxlen=KEPT_REPORTS)
        self.reports_sent = 0
        self._connections_seen = [0] * len(self.sources)

    async def measure(self, *, reread: bool = True) -> GatewayHealth:
        """The current health; ``reread`` reads each connected device's battery again."""
        devices = []
        for source in self.sources:
            status = source.status
            if status.device_id is None:
                continue  # never found: no pseudonym to report it under
            if reread:
                battery = await source.read_battery()
            else:
                battery = status.info.battery_percent if status.info is not None else None
            devices.append(
                DeviceBattery(
                    device_id=status.device_id,
                    battery_percent=battery,
                    connected=status.connected,
                )
            )
        now = self.clock()
        spool = self.producer.spool
        oldest = spool.stats.oldest_spooled_at_ns
        return GatewayHealth(
            patient_id=self.patient_id,
            producer_id=self.producer_id,
            gateway_time_ns=now,
            devices=tuple(devices),
            spool_events=len(spool) + len(self.producer.held),
            spool_oldest_age_s=None if oldest is None else max(0.0, (now - oldest) / 1e9),
            broker_refusal=self.producer.refusal,
        )

    async def report(self, *, reread: bool = True) -> GatewayHealth:
        """Measure and send one report (to the spool: it never waits for the broker)."""
        health = await self.measure(reread=reread)
        await self.producer.send(health)
        self.sent.append(health)
        self.reports_sent += 1
        log.info(
            "health: %d device(s), lowest battery %s, %d event(s) spooled",
            len(health.devices),
            lowest_battery(health),
            health.spool_events,
        )
        return health

    def newly_connected(self) -> bool:
        """Whether a device finished a connection's start-up since the last look."""
        found = False
        for index, source in enumerate(self.sources):
            ready = source.ready_connections
            if ready > self._connections_seen[index]:
                self._connections_seen[index] = ready
                found = True
        return found

    async def run(self, stop: asyncio.Event) -> None:
        """Report at each connection and every ``interval_s`` until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval_s
        while not stop.is_set():
            if self.newly_connected():
                await self.report(reread=False)  # the start-up has just read it
                due = loop.time() + self.interval_s
            elif loop.time() >= due:
                await self.report()
                due = loop.time() + self.interval_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await stop.wait()


def lowest_battery(health: GatewayHealth) -> int | None:
    """The lowest battery level among the report's devices (``None``: none known)."""
    levels = [d.battery_percent for d in health.devices if d.battery_percent is not None]
    return min(levels, default=None)


class RunningReporter:
    """A reporter's task; :meth:`check_alive` raises its failure instead of running on silent."""

    def __init__(self, task: asyncio.Task[None]) -> None:
        self.task = task

    def check_alive(self) -> None:
        if self.task.done() and not self.task.cancelled() and self.task.exception() is not None:
            raise RuntimeError("the gateway's health reporter failed") from self.task.exception()


@contextlib.asynccontextmanager
async def reporting(reporter: HealthReporter) -> AsyncIterator[RunningReporter]:
    """Run ``reporter`` in the background for the body of the ``async with``."""
    stop = asyncio.Event()
    running = RunningReporter(asyncio.create_task(reporter.run(stop), name="gateway-health"))
    try:
        yield running
    finally:
        stop.set()
        task = running.task
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.error("the health reporter failed: %r", task.exception())
