"""A run directory: every event of one demo (or replay) run, kept for `vagus report`.

The contract, version 1:

* ``events.jsonl``: one event per line, the wire JSON of :data:`stream.events.AnyEvent`
  (:func:`stream.codec.encode_event`: UTF-8, validated on write), each line ending in ``\\n``, in
  the order the writer saw them. A line a reader cannot decode is counted and reported, never
  silently dropped; blank lines are ignored.
* ``summary.json``: one JSON object (the run's summary, e.g. the demo's), written atomically,
  optional (a run that died has none).

This is health data: the folder is made owner-only (0700) and both files 0600. A run directory
is written once: a writer refuses a folder that already holds ``events.jsonl``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from stream.codec import decode_event, encode_event
from stream.errors import SchemaError
from stream.events import AnyEvent, Event, event_type_name

EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
_DIR_MODE = 0o700
_FILE_MODE = 0o600

E = TypeVar("E", bound=Event)


class RunDirError(Exception):
    """A run directory that cannot be written or read; the message names the path."""


class RunDirWriter:
    """Appends events to a new run directory's ``events.jsonl``, one line per event.

    Synchronous and unbuffered (one ``write`` per event), so a run killed at any moment leaves
    whole lines, at most one partial last line, which the reader reports.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, _DIR_MODE)  # also when it existed, or the umask widened it
        events = path / EVENTS_FILE
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
        try:
            self._fd: int | None = os.open(events, flags, _FILE_MODE)
        except FileExistsError as exc:
            raise RunDirError(f"{events} exists; run directories are never overwritten") from exc
        self.events_written = 0

    def write_event(self, event: AnyEvent) -> None:
        """Append one event (raises :class:`stream.errors.SchemaError` for an invalid one)."""
        if self._fd is None:
            raise RunDirError(f"{self.path}: the writer is closed")
        line = memoryview(encode_event(event) + b"\n")
        while line:
            line = line[os.write(self._fd, line) :]
        self.events_written += 1

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write (or replace) ``summary.json`` atomically: a temporary file, then a rename."""
        target = self.path / SUMMARY_FILE
        temporary = target.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as output:
            output.write(json.dumps(summary, indent=2) + "\n")
        os.replace(temporary, target)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunDirWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass
class RunData:
    """A run directory as read back: its events in file order, by type, and what was wrong."""

    path: Path
    events: list[AnyEvent]
    summary: dict[str, Any] | None = None
    #: Lines of events.jsonl that did not decode, the first one's number (1-based) and why.
    bad_lines: int = 0
    first_bad_line: int | None = None
    first_bad_reason: str = ""
    #: Anything else a reader should be told (an unreadable summary.json).
    problems: list[str] = field(default_factory=list)
    by_type: dict[str, list[AnyEvent]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for event in self.events:
            self.by_type.setdefault(event_type_name(type(event)), []).append(event)

    def of(self, kind: type[E]) -> list[E]:
        """The events of one type, in file order."""
        return [e for e in self.by_type.get(event_type_name(kind), []) if isinstance(e, kind)]

    @property
    def patient_id(self) -> str:
        return self.events[0].patient_id if self.events else ""


def read_run(path: Path) -> RunData:
    """Read a run directory; raises :class:`RunDirError` when it has no readable events file.

    Undecodable lines and an unreadable summary are reported in the result, not raised: the
    rest of the run is still worth reading.
    """
    if not path.is_dir():
        raise RunDirError(f"{path}: not a directory")
    events_path = path / EVENTS_FILE
    try:
        data = events_path.read_bytes()
    except FileNotFoundError as exc:
        raise RunDirError(f"{path}: not a run directory (no {EVENTS_FILE})") from exc
    except OSError as exc:
        raise RunDirError(f"{events_path}: {exc.strerror}") from exc
    events: list[AnyEvent] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            events.append(decode_event(line))
        except SchemaError as exc:
            bad.append((number, str(exc)))
    summary, problems = _summary(path / SUMMARY_FILE)
    return RunData(
        path=path,
        events=events,
        summary=summary,
        bad_lines=len(bad),
        first_bad_line=bad[0][0] if bad else None,
        first_bad_reason=bad[0][1] if bad else "",
        problems=problems,
    )


def _summary(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, []
    except (OSError, ValueError) as exc:
        return None, [f"{path.name} is unreadable: {exc}"]
    if not isinstance(value, dict):
        return None, [f"{path.name} is not a JSON object"]
    return value, []
