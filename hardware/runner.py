"""The gateway's session runner: command in, interlock, device, outcome events out.

Every command produces outcome events, including a refusal: a clinician reading the outcome
topic sees each command's fate. A session also ends at the device's own timeout even if nothing
upstream ever says stop. An abort says who asked for it (``patient:gpio-button``,
``closedloop``, ``gateway:shutdown``) in the ``aborted`` outcome's detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from hardware.clock import Clock
from hardware.devices import OutputDevice
from hardware.limits import Interlock
from stream.events import InterventionCommand, InterventionOutcome, OutcomeStatus

log = logging.getLogger(__name__)

OutcomeSink = Callable[[InterventionOutcome], Awaitable[None]]


class SessionRunner:
    """Runs at most one session at a time on one device, reporting every state change."""

    def __init__(
        self,
        *,
        device: OutputDevice,
        interlock: Interlock,
        clock: Clock,
        emit: OutcomeSink,
        producer_id: str,
    ) -> None:
        self._device = device
        self._interlock = interlock
        self._clock = clock
        self._emit = emit
        self._producer_id = producer_id
        self._abort = asyncio.Event()
        self._aborted_by = ""
        self._active: asyncio.Task[None] | None = None
        self._current: InterventionCommand | None = None
        self.received_at_ns: dict[str, int] = {}

    @property
    def busy(self) -> bool:
        return self._active is not None and not self._active.done()

    @property
    def current(self) -> InterventionCommand | None:
        """The command of the session running now, if one is."""
        return self._current if self.busy else None

    @property
    def interlock(self) -> Interlock:
        return self._interlock

    @property
    def clock(self) -> Clock:
        return self._clock

    async def handle(self, command: InterventionCommand) -> None:
        """Act on one command; returns once the session has started (or was refused)."""
        now = self._clock.now_ns()
        if command.action == "stop":
            self._stop("closedloop")
            return
        await self._report(command, "requested", now)
        refusal = self._interlock.refusal(command, now)
        if refusal is not None:
            log.info("refused command %s: %s", command.event_id, refusal)
            await self._report(command, "rejected", now, detail=refusal)
            return
        self._interlock.record_start(now, command.parameters.duration_s)
        self._abort = asyncio.Event()
        self._aborted_by = ""
        self._current = command
        await self._report(command, "started", now)
        self._active = asyncio.create_task(self._run(command), name=f"session-{command.event_id}")

    async def _run(self, command: InterventionCommand) -> None:
        try:
            report = await self._device.render(command.parameters, self._clock, self._abort)
        except Exception as exc:  # noqa: BLE001 - a device fault must become a "failed" outcome
            now = self._clock.now_ns()
            self._interlock.record_end(now)
            await self._report(command, "failed", now, detail=f"{type(exc).__name__}: {exc}")
            return
        now = self._clock.now_ns()
        self._interlock.record_end(now)
        status: OutcomeStatus = "completed" if report.completed else "aborted"
        detail = f"aborted by {self._aborted_by or 'unknown'}" if status == "aborted" else ""
        await self._report(
            command,
            status,
            now,
            detail=detail,
            metrics={"ran_s": report.ran_s, "breaths": report.breaths},
        )

    async def _report(
        self,
        command: InterventionCommand,
        status: OutcomeStatus,
        now_ns: int,
        *,
        detail: str = "",
        metrics: dict[str, float] | None = None,
    ) -> None:
        outcome = InterventionOutcome(
            patient_id=command.patient_id,
            producer_id=self._producer_id,
            gateway_time_ns=now_ns,
            command_id=command.event_id,
            status=status,
            modality=command.modality,
            detail=detail,
            metrics=metrics or {},
        )
        await self._emit(outcome)

    async def wait_idle(self) -> None:
        if self._active is not None:
            await self._active

    def _stop(self, by: str) -> None:
        if self.busy and not self._abort.is_set():
            self._aborted_by = by
        self._abort.set()

    async def abort(self, by: str = "gateway:shutdown") -> InterventionCommand | None:
        """Stop the running session now and wait until its outcome is reported; ``by`` says
        who asked (``patient:terminal``). Returns the stopped session's command, if any."""
        stopped = self.current
        self._stop(by)
        if self._active is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._active
        return stopped
