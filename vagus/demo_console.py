"""What the demo shows while it runs: a progress line, and the patient's keys.

On a terminal the progress is one line redrawn in place and the keys ``s`` (stop the session)
and ``n`` ("not now") reach the gateway's patient control, as a push button would. Elsewhere
(a pipe, CI) progress is a plain line every tenth of the recording and no key is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hardware.control import PatientAction, PatientControl, PatientRequest
from vagus.quiet_logs import quiet_broker_retries

NS = 1_000_000_000
KEYS: dict[str, PatientAction] = {"s": "stop", "n": "not_now"}
KEY_HINT = "keys: s = stop the session, n = not now, Ctrl-C = quit"
#: In the demo's log file, each kind of the Kafka client's retry line at most this often.
RETRY_LINES_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of the replay, read off the gateway."""

    recording_s: float
    total_s: float
    windows: int
    episodes: int
    sessions: int

    def line(self) -> str:
        return (
            f"recording {_clock(self.recording_s)} / {_clock(self.total_s)}"
            f"  windows {self.windows}  episodes {self.episodes}  sessions {self.sessions}"
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes:02d}:{secs:02d}"


class ProgressPrinter:
    """Prints progress every ``interval_s`` of wall time until stopped."""

    def __init__(
        self, read: Callable[[], Progress | None], stream: TextIO, *, interval_s: float = 0.5
    ) -> None:
        self._read = read
        self._stream = stream
        self._interval_s = interval_s
        self._live = stream.isatty()
        self._last_tenth = -1
        self._last_line = ""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.show()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval_s)
        self.show(final=True)

    def show(self, *, final: bool = False) -> None:
        progress = self._read()
        if progress is None:
            return
        if self._live:
            end = "\n" if final else ""
            self._stream.write(f"\r\033[K{progress.line()}{end}")
            self._stream.flush()
            return
        tenth = int(10 * progress.recording_s / progress.total_s) if progress.total_s else 0
        line = progress.line()
        if (tenth > self._last_tenth or final) and line != self._last_line:
            self._last_tenth, self._last_line = tenth, line
            self._stream.write(line + "\n")
            self._stream.flush()


@contextlib.contextmanager
def patient_keys(control: PatientControl, stdin: TextIO = sys.stdin) -> Iterator[bool]:
    """Read single keys from a terminal into ``control`` (yields False when not a terminal)."""
    if not stdin.isatty():
        yield False
        return
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()

    def on_key() -> None:
        key = os.read(fd, 1).decode(errors="ignore").lower()
        action = KEYS.get(key)
        if action is not None:
            control.submit(PatientRequest(action=action, source="terminal"))

    tty.setcbreak(fd)
    loop.add_reader(fd, on_key)
    try:
        yield True
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def log_to_file(path: Path) -> Path:
    """Send every log line (ours and the libraries') to ``path`` instead of the terminal.

    A healthy demo prints only its progress and its summary; what the broker client, faust or
    numba said is in the file, owner-only, for when something went wrong.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("aiokafka", "kafka", "faust", "mode", "numba", "bleak", "bumble"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_broker_retries(keep_every_s=RETRY_LINES_EVERY_S)
    return path
