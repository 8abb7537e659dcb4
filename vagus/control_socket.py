"""`vagus session stop|not-now` reach a running gateway through a Unix socket in its state dir.

Why a local socket and not a Kafka command: the patient's stop must work when the broker is
unreachable, and only someone on the gateway itself (the patient's own device) may use it. The
socket is owner-only (0600, in a 0700 folder). One request per connection: a line with the
action, answered by one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from hardware.control import ACTIONS, PatientControl, PatientRequest

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
#: Long enough for a session's fade-out and the outcome's acknowledgement.
REPLY_TIMEOUT_S = 15.0
_MAX_LINE = 64


class ControlUnavailableError(RuntimeError):
    """No gateway is listening at the socket (not running, or another state dir)."""


class ControlServer:
    """Serves the socket while the gateway runs; each request goes to ``control``."""

    def __init__(self, path: Path, control: PatientControl) -> None:
        self.path = path
        self._control = control
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket left by a gateway that was killed
        old_mask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old_mask)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 5.0))[:_MAX_LINE]
            action = line.decode("ascii", errors="replace").strip().replace("-", "_")
            if action not in ACTIONS:
                reply: dict[str, Any] = {"ok": False, "error": f"unknown action {action!r}"}
            else:
                request = PatientRequest(action=action, source="cli")
                accepted = self._control.submit(request)
                await asyncio.wait_for(self._control.settle(), REPLY_TIMEOUT_S)
                reply = {"ok": accepted, "action": action}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError) as exc:
            log.warning("control request not completed: %s", type(exc).__name__)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def send_request(path: Path, action: str) -> dict[str, Any]:
    """Ask the gateway listening at ``path`` to act; its JSON reply."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlUnavailableError(
            f"no gateway is running with its state in {path.parent}"
        ) from exc
    try:
        writer.write(action.encode("ascii") + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT_S + 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    try:
        reply: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ControlUnavailableError("the gateway did not answer") from exc
    return reply
