"""A bounded, crash-safe, on-disk FIFO of events waiting for the broker (store and forward).

Events are appended to segment files (framing in :mod:`stream.spool_segments`) with unbuffered
writes, so once :meth:`Spool.append` returns the record is in the kernel: a killed process loses
nothing. Durability across a power cut depends on the fsync policy (``always``: fsync each
append; ``interval``: at most one fsync per ``fsync_interval_s`` and on close; ``never``). The
drained position is a ``cursor`` file replaced atomically after each acknowledged batch; a lost
cursor means redelivery from the start (consumers dedupe by event id), never loss.

When full (``max_bytes`` or ``max_events``) the spool keeps the NEWEST events: it evicts the
oldest whole segments, logs a warning with the count and counts it in :attr:`SpoolStats.evicted`
(since open) and in :attr:`Spool.losses`, kept in the folder until `vagus doctor --ack`.
A single lock file keeps a second process from using the same directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import IO

from ingest.private_files import open_private, private_dir
from stream.errors import StreamError
from stream.spool_segments import (
    SEGMENT_SUFFIX,
    IndexEntry,
    SpooledEvent,
    SpoolStats,
    decode_record,
    encode_record,
    read_cursor,
    read_losses,
    scan_segment,
    segment_path,
    sync_directory,
    write_cursor,
    write_losses,
)
from stream.spool_settings import SpoolSettings

__all__ = ["Spool", "SpoolError", "SpoolSettings", "SpoolStats", "SpoolWriteError"]

log = logging.getLogger(__name__)


class SpoolError(StreamError):
    """The spool directory cannot be used (locked by another process, unwritable, ...)."""


class SpoolWriteError(SpoolError):
    """The disk refused one append (full, read-only, failing): that event is not stored, the
    spool is consistent, and a later append may succeed."""


class Spool:
    """Append at the tail, read and acknowledge at the head; sequence numbers never repeat."""

    def __init__(self, directory: Path, settings: SpoolSettings | None = None) -> None:
        self.directory = directory
        self.settings = settings or SpoolSettings()
        self.stats = SpoolStats()
        #: Events appended since this spool was opened (a run's own accounting: each one is
        #: then delivered, still spooled or evicted).
        self.appended = 0
        self._index: deque[IndexEntry] = deque()
        self._segments: deque[Path] = deque()
        self._tail: IO[bytes] | None = None
        self._tail_bytes = 0
        self._last_fsync = time.monotonic()
        self._last_cursor = float("-inf")  # the first ack writes it
        self._cursor_dirty = False
        self._lock = self._take_lock(directory)
        try:
            #: Lost events since the folder was made (eviction, torn tails): survive restarts.
            self.losses = read_losses(directory)
            self._next_seq = read_cursor(directory)
            self._load()
        except BaseException:
            self._lock.close()
            raise

    @staticmethod
    def _take_lock(directory: Path) -> IO[bytes]:
        """An exclusive lock on the directory, released when the process dies."""
        try:
            private_dir(directory)  # events are health data: owner-only, whatever the umask
            lock = open_private(directory / "lock", "a+b")
        except OSError as exc:
            raise SpoolError(f"cannot use spool directory {directory}: {exc.strerror}") from exc
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock.close()
            raise SpoolError(f"{directory} is in use by another process") from exc
        return lock

    # -- opening -------------------------------------------------------------------------

    def _load(self) -> None:
        cursor = self._next_seq
        for path in sorted(self.directory.glob(f"*{SEGMENT_SUFFIX}")):
            scan = scan_segment(path)
            if scan.torn_bytes:
                self.stats.torn_tails += 1
                self.stats.torn_tail_bytes += scan.torn_bytes
                log.warning("spool %s: torn tail of %d bytes ignored", path.name, scan.torn_bytes)
                self._count_loss(torn_bytes=scan.torn_bytes)
                with open(path, "r+b") as damaged:
                    damaged.truncate(scan.good_bytes)
            live = [e for e in scan.entries if e.seq >= cursor]
            if scan.entries:
                self._next_seq = max(self._next_seq, scan.entries[-1].seq + 1)
            if not live:
                path.unlink()
                continue
            self._segments.append(path)
            self._index.extend(live)
            self.stats.events += len(live)
            self.stats.bytes += sum(e.size for e in live)
        self._update_oldest()

    # -- appending -----------------------------------------------------------------------

    def append(self, *, topic: str, key: bytes, payload: bytes) -> int:
        """Store one event durably (per the fsync policy); returns its sequence number."""
        seq, spooled_at_ns = self._next_seq, time.time_ns()
        record = encode_record(SpooledEvent(seq, spooled_at_ns, topic, key, payload))
        if len(record) > self.settings.max_bytes // 2:
            raise SpoolError(f"an event of {len(record)} bytes does not fit the spool")
        try:
            self._make_room(len(record))
            if self._tail is None or self._tail_bytes >= self.settings.segment_bytes:
                self._roll(seq)
        except OSError as exc:
            raise SpoolWriteError(f"cannot start a spool segment: {exc.strerror or exc}") from exc
        assert self._tail is not None
        offset = self._tail_bytes
        try:
            written = self._tail.write(record)
            if written != len(record):
                raise OSError(f"short write ({written} of {len(record)} bytes)")
        except OSError as exc:
            self._abandon_tail(offset)
            raise SpoolWriteError(f"cannot append to the spool: {exc.strerror or exc}") from exc
        self._tail_bytes += len(record)
        self._next_seq += 1
        self.appended += 1
        self._index.append(IndexEntry(seq, spooled_at_ns, self._segments[-1], offset, len(record)))
        self.stats.appended += 1
        self.stats.events += 1
        self.stats.bytes += len(record)
        self._update_oldest()
        self._maybe_fsync(self._tail)
        return seq

    def _abandon_tail(self, good_bytes: int) -> None:
        """After a failed write (disk full): cut the partial record off if possible, and start
        the next append in a fresh segment either way, so no good record ever follows garbage."""
        assert self._tail is not None
        with contextlib.suppress(OSError):
            os.ftruncate(self._tail.fileno(), good_bytes)
        with contextlib.suppress(OSError):
            self._tail.close()
        self._tail = None

    def _roll(self, first_seq: int) -> None:
        """Start the segment whose first record will be ``first_seq``. After a refused append
        that segment may be the last one already (nothing was stored since it was started):
        it is started again, empty, rather than listed twice or written after a torn record."""
        if self._tail is not None:
            tail, self._tail = self._tail, None
            try:
                self._sync(tail)
            finally:
                tail.close()
        path = segment_path(self.directory, first_seq)
        again = bool(self._segments) and self._segments[-1] == path
        self._tail = open_private(path, "wb" if again else "ab", buffering=0)
        self._tail_bytes = 0
        if not again:
            self._segments.append(path)
        self._sync_directory()

    def _make_room(self, incoming: int) -> None:
        """Evict the oldest whole segments until ``incoming`` bytes and one event fit."""
        limits = self.settings
        while self._index and (
            self.stats.bytes + incoming > limits.max_bytes
            or self.stats.events + 1 > limits.max_events
        ):
            oldest = self._segments[0]
            if self._tail is not None and oldest == self._segments[-1]:
                self._roll(self._next_seq)  # never evict the segment being written into
            evicted = 0
            while self._index and self._index[0].segment == oldest:
                entry = self._index.popleft()
                self.stats.bytes -= entry.size
                evicted += 1
            self.stats.events -= evicted
            self.stats.evicted += evicted
            self._count_loss(evicted=evicted)
            self._segments.popleft()
            oldest.unlink(missing_ok=True)
            self._write_cursor(force=True)
            log.warning(
                "spool full: %d oldest events evicted (%d in total); keeping the newest",
                evicted,
                self.stats.evicted,
            )
        self._update_oldest()

    def _count_loss(self, *, evicted: int = 0, torn_bytes: int = 0) -> None:
        """Persist a loss at once: `vagus doctor` must show it after any restart."""
        self.losses.add(evicted=evicted, torn_bytes=torn_bytes)
        try:
            write_losses(self.directory, self.losses, fsync=self.settings.fsync != "never")
        except OSError as exc:
            log.warning("cannot record the spool's losses: %s", exc.strerror)

    # -- draining ------------------------------------------------------------------------

    def peek(self, limit: int) -> list[SpooledEvent]:
        """Up to ``limit`` events from the head, oldest first, without removing them."""
        events = []
        handles: dict[Path, IO[bytes]] = {}
        try:
            for entry in list(self._index)[:limit]:
                handle = handles.get(entry.segment)
                if handle is None:
                    handle = handles[entry.segment] = open(entry.segment, "rb")  # noqa: SIM115
                handle.seek(entry.offset)
                events.append(decode_record(handle.read(entry.size)))
        finally:
            for handle in handles.values():
                handle.close()
        return events

    def ack(self, through_seq: int) -> int:
        """Mark every event up to ``through_seq`` delivered; returns how many left the spool."""
        removed = 0
        while self._index and self._index[0].seq <= through_seq:
            entry = self._index.popleft()
            self.stats.bytes -= entry.size
            removed += 1
        self.stats.events -= removed
        self.stats.drained += removed
        self._write_cursor()
        while len(self._segments) > 1 and (
            not self._index or self._index[0].segment != self._segments[0]
        ):
            self._segments.popleft().unlink(missing_ok=True)
        self._update_oldest()
        return removed

    def __len__(self) -> int:
        return len(self._index)

    # -- durability ----------------------------------------------------------------------

    def _write_cursor(self, *, force: bool = False) -> None:
        """Persist the head: the sequence number of the oldest event not yet delivered.

        Written on every ack with fsync "always", else at most once per ``fsync_interval_s``
        (and on sync and close): a stale cursor only means a few events are delivered again.
        """
        due = time.monotonic() - self._last_cursor >= self.settings.fsync_interval_s
        if not (force or due or self.settings.fsync == "always"):
            self._cursor_dirty = True
            return
        self._last_cursor = time.monotonic()
        self._cursor_dirty = False
        next_seq = self._index[0].seq if self._index else self._next_seq
        write_cursor(self.directory, next_seq, fsync=self.settings.fsync != "never")

    def _sync_directory(self) -> None:
        if self.settings.fsync != "never":
            sync_directory(self.directory)

    def _maybe_fsync(self, handle: IO[bytes]) -> None:
        policy = self.settings.fsync
        due = time.monotonic() - self._last_fsync >= self.settings.fsync_interval_s
        if policy == "always" or (policy == "interval" and due):
            self._sync(handle)

    def _sync(self, handle: IO[bytes]) -> None:
        if self.settings.fsync != "never":
            os.fsync(handle.fileno())
        self._last_fsync = time.monotonic()

    def sync(self) -> None:
        """Force the tail to disk (the producer calls this before reporting an outage flush)."""
        if self._tail is not None:
            self._sync(self._tail)
        if self._cursor_dirty:
            self._write_cursor(force=True)

    def _update_oldest(self) -> None:
        self.stats.oldest_spooled_at_ns = self._index[0].spooled_at_ns if self._index else None

    def close(self) -> None:
        if self._cursor_dirty:
            self._write_cursor(force=True)
        if self._tail is not None:
            self._sync(self._tail)
            self._tail.close()
            self._tail = None
        self._lock.close()
