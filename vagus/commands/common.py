"""What several subcommands share: the handler type, the speed option, bootstrap override, a
runner that lets Ctrl-C and SIGTERM unwind a coroutine through its finally blocks, early checks
of the paths a command reads or writes, and one way to print a time."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys
import textwrap
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from ingest.errors import IngestError, RecordingError
from ingest.replay import Speed
from vagus import shutdown
from vagus.config import VagusConfig

Handler = Callable[[argparse.Namespace, VagusConfig], int]
Handlers = dict[str, Handler]

SPEED_HELP = textwrap.dedent(
    """\
    replay pace; the original timestamps are kept whatever the pace:
      realtime  as recorded (1x)
      N or Nx   N times real time, e.g. 10x or 0.5
      max       as fast as the pipeline goes; the gateway then waits for the
                closed loop's decision on each window it must decide on, so
                decisions stay causal"""
)


def parse_speed(text: str) -> Speed:
    """argparse type for --speed: a usage error, not a traceback, for a bad value."""
    try:
        return Speed.parse(text)
    except IngestError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def with_bootstrap(config: VagusConfig, bootstrap: str | None) -> VagusConfig:
    """The configuration with --bootstrap, when given, in place of the configured Kafka."""
    if bootstrap is None:
        return config
    return msgspec.structs.replace(config, kafka=config.kafka.with_bootstrap(bootstrap))


def run_async(coroutine_factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a coroutine so that SIGINT and SIGTERM both unwind it through its finally blocks
    (vagus.shutdown): the exit status is then 130 (SIGINT) or 143 (SIGTERM), also when the
    command caught the cancellation to write its summary. A cancellation without a signal is a
    failure (exit 1), never reported as an interruption."""

    async def main() -> int:
        task = asyncio.current_task()
        assert task is not None
        shutdown.install(task)
        return await coroutine_factory()

    try:
        status = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:
        if isinstance(exc, KeyboardInterrupt) or shutdown.received() is not None:
            name = shutdown.signal_name() or "SIGINT"
            print(
                f"vagus: interrupted ({name}); everything it started has been stopped",
                file=sys.stderr,
            )
            return shutdown.exit_status() or 128 + signal.SIGINT
        print("vagus: stopped: a task was cancelled that no signal asked to stop", file=sys.stderr)
        return 1
    interrupted = shutdown.exit_status()
    if interrupted is not None:
        print(
            f"vagus: interrupted ({shutdown.signal_name()}); everything it started has been "
            "stopped and its summary written",
            file=sys.stderr,
        )
        return interrupted
    return status


def iso_utc(time_ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 UTC to the second, e.g. 2026-12-03T08:15:02Z."""
    return datetime.fromtimestamp(time_ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _os_error(code: int, path: Path) -> OSError:
    # OSError(errno, ...) builds the matching subclass (FileNotFoundError, ...) with a filename,
    # which is what vagus.cli.main turns into one line.
    return OSError(code, os.strerror(code), str(path))


def readable_file(path: Path) -> Path:
    """Open and close ``path`` now, so a missing, unreadable or folder path fails before any
    broker, worker or Bluetooth adapter is started for nothing."""
    with path.open("rb"):
        return path


def readable_recording(path: Path) -> Path:
    """:func:`readable_file` that also refuses what is not a recording (RecordingError), at the
    cost of reading the file once more: a broker and a worker start only for a real one. A file
    whose header chunk is unreadable is refused too: without its devices every notification
    would be an undeclared device (`vagus recording info` still shows what it holds)."""
    from ingest.errors import RecordingError  # noqa: PLC0415
    from ingest.recording import RecordingReader  # noqa: PLC0415

    if not RecordingReader(path).header_readable:
        raise RecordingError(
            f"{path}: header unreadable (devices and patient unknown); see vagus recording info"
        )
    return path


def writable_file(path: Path) -> Path:
    """Fail now, not after a long run, when ``path`` cannot be created: its folder is missing
    or not a folder, or ``path`` is itself a folder."""
    if path.is_dir():
        raise _os_error(errno.EISDIR, path)
    folder = path.parent
    if not folder.exists():
        raise _os_error(errno.ENOENT, path)
    if not folder.is_dir():
        raise _os_error(errno.ENOTDIR, path)
    if not os.access(folder, os.W_OK):
        raise _os_error(errno.EACCES, path)
    return path


def new_recording(path: Path) -> Path:
    """:func:`writable_file` for a recording, which is never overwritten (RecordingWriter)."""
    writable_file(path)
    if path.exists():
        raise RecordingError(f"{path} exists; recordings are never overwritten")
    return path


def writable_folder(path: Path) -> Path:
    """Fail now when ``path`` (a folder to create or reuse) is a file or sits under one."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise _os_error(errno.ENOTDIR, existing)
    if not os.access(existing, os.W_OK):
        raise _os_error(errno.EACCES, existing)
    return path
