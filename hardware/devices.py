"""Output devices: what renders a session. One small interface, several implementations."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from hardware.clock import Clock
from stream.events import SessionParameters


@dataclass(frozen=True, slots=True)
class SessionReport:
    """What a device did: how long it ran and what it rendered."""

    ran_s: float
    breaths: int
    completed: bool


class OutputDevice(Protocol):
    """Renders one session until it is done or ``abort`` is set."""

    name: str

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport: ...


@dataclass
class SimulatedDevice:
    """A pacer that exists only in memory; it keeps a log of the breathing phases it cued."""

    name: str = "simulated-pacer"
    phases: list[tuple[int, str]] = field(default_factory=list)

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        start_ns = clock.now_ns()
        end_ns = start_ns + int(parameters.duration_s * 1e9)
        breath_ns = int(60e9 / parameters.breaths_per_min)
        inhale_ns = int(breath_ns * parameters.inhale_fraction)
        breaths = 0
        cue_ns = start_ns
        while cue_ns < end_ns and not abort.is_set():
            self.phases.append((cue_ns, "inhale"))
            await clock.sleep_until(min(cue_ns + inhale_ns, end_ns))
            if abort.is_set():
                break
            self.phases.append((cue_ns + inhale_ns, "exhale"))
            await clock.sleep_until(min(cue_ns + breath_ns, end_ns))
            breaths += 1
            cue_ns += breath_ns
        ran_s = (min(clock.now_ns(), end_ns) - start_ns) / 1e9
        return SessionReport(ran_s=ran_s, breaths=breaths, completed=not abort.is_set())


@dataclass
class FanOutDevice:
    """Renders one session on several devices at once (a pacer light and a bass shaker, say).

    The session ran as long as the shortest rendering, completed only if every device completed.
    If one device fails, the others are stopped with it (with their usual fade) before the
    failure is reported: a session the interlock counts as ended must not go on elsewhere.
    """

    devices: list[OutputDevice]
    name: str = "fan-out"

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        stop_all = asyncio.Event()

        async def follow_abort() -> None:
            await abort.wait()
            stop_all.set()

        async def render_one(device: OutputDevice) -> SessionReport:
            try:
                return await device.render(parameters, clock, stop_all)
            except BaseException:
                stop_all.set()
                raise

        follower = asyncio.create_task(follow_abort())
        try:
            results = await asyncio.gather(
                *(render_one(device) for device in self.devices), return_exceptions=True
            )
        finally:
            follower.cancel()
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        reports = [r for r in results if isinstance(r, SessionReport)]
        return SessionReport(
            ran_s=min(r.ran_s for r in reports),
            breaths=max(r.breaths for r in reports),
            completed=all(r.completed for r in reports),
        )
