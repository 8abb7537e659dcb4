"""The patient's controls: stop a running session at once, or say "not now".

Every control (a push button, a key in the terminal, `vagus session stop`, a band's button)
hands a :class:`PatientRequest` to one :class:`PatientControl`. Controls may live on other
threads (gpiozero calls back on its own), so :meth:`PatientControl.submit` is thread-safe and
never blocks: the request is carried to the event loop that owns the session runner.

"Not now" stops a running session too, and keeps the device silent for the policy's cooldown:
the gateway's interlock refuses new sessions until then, and the closed loop is told so that it
holds as well (two places, as for every safety limit).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

PatientAction = Literal["stop", "not_now"]
ACTIONS: tuple[PatientAction, ...] = ("stop", "not_now")
#: Sources are short labels that end up in outcome events and logs: no addresses, no names.
_SOURCE = re.compile(r"[a-z][a-z0-9_.:-]{0,39}")


@dataclass(frozen=True, slots=True)
class PatientRequest:
    """One press of a control: what the patient asked for and which control they used."""

    action: PatientAction
    #: Which control: ``gpio-button``, ``terminal``, ``cli``, ``band-button``, ...
    source: str

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown patient action {self.action!r}")
        if not _SOURCE.fullmatch(self.source):
            raise ValueError(f"control source {self.source!r} is not a short lowercase label")

    @property
    def by(self) -> str:
        """Who ended the session, as the outcome reports it (``patient:gpio-button``)."""
        return f"patient:{self.source}"


RequestHandler = Callable[[PatientRequest], Awaitable[None]]


class PatientControl:
    """Carries requests from any thread to ``handler`` on the event loop it was bound to."""

    def __init__(self, handler: RequestHandler) -> None:
        self._handler = handler
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.handled: list[PatientRequest] = []

    def bind(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Attach to ``loop`` (default: the running one); requests before this are refused."""
        self._loop = loop or asyncio.get_running_loop()

    def submit(self, request: PatientRequest) -> bool:
        """Hand ``request`` over from any thread; False when no loop is bound (yet or any more)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            action, source = request_log(request)
            log.warning("patient %s from %s ignored: the gateway is not running", action, source)
            return False
        loop.call_soon_threadsafe(self._start, request)
        return True

    def _start(self, request: PatientRequest) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run(request), name=f"patient-{request.action}"
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self, request: PatientRequest) -> None:
        log.info("patient %s from %s", *request_log(request))
        self.handled.append(request)
        await self._handler(request)

    async def settle(self) -> None:
        """Wait until every request handed over so far has been acted on."""
        await asyncio.sleep(0)  # let call_soon_threadsafe callbacks create their tasks
        while self._pending:
            await asyncio.gather(*list(self._pending))


def request_log(request: PatientRequest) -> tuple[str, str]:
    return request.action.replace("_", " "), request.source
