"""The on-disk framing of the spool: append-only segment files of CRC'd, length-prefixed records.

    segment = record*          (file name: the first record's sequence number, 20 digits + .seg)
    record  = length:u32 LE | crc32:u32 LE (of body) | body:length bytes
    body    = MessagePack array [seq, spooled_at_ns, topic, key, payload]

A process killed mid-append leaves at most one partial record at the end of the newest segment:
a *torn tail*. Scanning stops at the first record that is cut off or fails its CRC; the bytes
after it are reported (and the caller truncates them), never decoded as events.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec

from ingest.private_files import open_private, write_private

log = logging.getLogger(__name__)
RECORD_HEADER = struct.Struct("<II")
#: A length above this is corruption, not a record (events are a few kB).
MAX_RECORD_BYTES = 16 * 1024 * 1024
SEGMENT_SUFFIX = ".seg"


class SpooledEvent(msgspec.Struct, frozen=True, array_like=True):
    """One event waiting for the broker: where it goes and its exact wire bytes."""

    seq: int
    spooled_at_ns: int
    topic: str
    key: bytes
    payload: bytes


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """Where a record lives, so the spool keeps only this in memory, not the payloads."""

    seq: int
    spooled_at_ns: int
    segment: Path
    offset: int
    size: int


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SpooledEvent)


def encode_record(event: SpooledEvent) -> bytes:
    body = _encoder.encode(event)
    return RECORD_HEADER.pack(len(body), zlib.crc32(body)) + body


def decode_record(data: bytes) -> SpooledEvent:
    """Decode one whole framed record (the caller read exactly ``size`` bytes)."""
    length, crc = RECORD_HEADER.unpack_from(data)
    body = data[RECORD_HEADER.size : RECORD_HEADER.size + length]
    if len(body) != length or zlib.crc32(body) != crc:
        raise ValueError("spool record fails its checksum")
    return _decoder.decode(body)


def segment_path(directory: Path, first_seq: int) -> Path:
    return directory / f"{first_seq:020d}{SEGMENT_SUFFIX}"


@dataclass
class SpoolStats:
    """What the spool holds and what happened to it (counters since open)."""

    events: int = 0
    bytes: int = 0
    oldest_spooled_at_ns: int | None = None
    appended: int = 0
    drained: int = 0
    evicted: int = 0
    torn_tail_bytes: int = 0
    torn_tails: int = 0


@dataclass
class SegmentScan:
    """The readable records of one segment and where its good bytes end."""

    entries: list[IndexEntry]
    good_bytes: int
    torn_bytes: int


def scan_segment(path: Path) -> SegmentScan:
    """Index every whole, checksummed record; stop at the first damaged one."""
    data = path.read_bytes()
    entries: list[IndexEntry] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < RECORD_HEADER.size:
            break
        length, crc = RECORD_HEADER.unpack_from(data, offset)
        end = offset + RECORD_HEADER.size + length
        if length > MAX_RECORD_BYTES or end > len(data):
            break
        body = data[offset + RECORD_HEADER.size : end]
        if zlib.crc32(body) != crc:
            break
        try:
            event = _decoder.decode(body)
        except msgspec.DecodeError:
            break
        entries.append(IndexEntry(event.seq, event.spooled_at_ns, path, offset, end - offset))
        offset = end
    return SegmentScan(entries, offset, len(data) - offset)


def read_cursor(directory: Path) -> int:
    """The sequence number of the oldest undelivered event (0, i.e. everything, if unknown)."""
    try:
        return int((directory / "cursor").read_text().strip())
    except FileNotFoundError:
        return 0
    except (OSError, ValueError):
        log.warning("spool cursor unreadable: events may be delivered again (deduped by id)")
        return 0


def write_cursor(directory: Path, next_seq: int, *, fsync: bool) -> None:
    """Replace the cursor atomically: write a temporary file, (fsync,) rename, (fsync dir)."""
    temporary = directory / "cursor.tmp"
    with open_private(temporary, "wb") as cursor:
        cursor.write(f"{next_seq}\n".encode("ascii"))
        cursor.flush()
        if fsync:
            os.fsync(cursor.fileno())
    os.replace(temporary, directory / "cursor")
    if fsync:
        sync_directory(directory)


def sync_directory(directory: Path) -> None:
    """Make created, renamed and deleted names in ``directory`` durable."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def read_spool_summary(directory: Path) -> SpoolStats:
    """Events, bytes and oldest time of a spool, read without locking or repairing it (for
    ``vagus doctor`` while the gateway runs); a torn tail is reported, not truncated."""
    stats = SpoolStats()
    if not directory.is_dir():
        return stats
    cursor = read_cursor(directory)
    for path in sorted(directory.glob(f"*{SEGMENT_SUFFIX}")):
        try:
            scan = scan_segment(path)
        except OSError:
            continue  # drained and deleted while we looked
        live = [e for e in scan.entries if e.seq >= cursor]
        stats.events += len(live)
        stats.bytes += sum(e.size for e in live)
        if live and stats.oldest_spooled_at_ns is None:
            stats.oldest_spooled_at_ns = live[0].spooled_at_ns
        if scan.torn_bytes:
            stats.torn_tails += 1
            stats.torn_tail_bytes += scan.torn_bytes
    return stats


LOSSES_FILE = "losses.json"
ACKNOWLEDGED_FILE = "losses-acknowledged.json"


class SpoolLosses(msgspec.Struct, kw_only=True):
    """Events the spool lost, counted since its folder was made; kept on disk so a restart
    does not forget them. Only the spool writes this file (``vagus doctor --ack`` writes its
    own), so an acknowledgement never races a running gateway."""

    evicted: int = 0
    torn_tails: int = 0
    torn_tail_bytes: int = 0
    first_loss_ns: int | None = None
    last_loss_ns: int | None = None

    def add(self, *, evicted: int = 0, torn_bytes: int = 0) -> None:
        now = time.time_ns()
        self.evicted += evicted
        if torn_bytes:
            self.torn_tails += 1
            self.torn_tail_bytes += torn_bytes
        if self.first_loss_ns is None:
            self.first_loss_ns = now
        self.last_loss_ns = now


class LossAcknowledgement(msgspec.Struct, kw_only=True):
    """The loss totals someone has seen and accepted (who: a login name, never patient data)."""

    evicted: int
    torn_tails: int
    acknowledged_ns: int
    by: str


_S = TypeVar("_S", SpoolLosses, LossAcknowledgement)


class OpenLosses(msgspec.Struct, kw_only=True):
    """Losses not acknowledged yet, and since when they count."""

    evicted: int
    torn_tails: int
    since_ns: int | None


def _read_struct(path: Path, kind: type[_S]) -> _S | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        log.warning("%s unreadable; loss counts start again from it", path.name)
        return None


def read_losses(directory: Path) -> SpoolLosses:
    return _read_struct(directory / LOSSES_FILE, SpoolLosses) or SpoolLosses()


def write_losses(directory: Path, losses: SpoolLosses, *, fsync: bool) -> None:
    write_private(directory / LOSSES_FILE, msgspec.json.encode(losses) + b"\n", fsync=fsync)


def open_losses(directory: Path) -> OpenLosses:
    """What ``vagus doctor`` reports: the totals minus what was acknowledged."""
    losses = read_losses(directory)
    seen = _read_struct(directory / ACKNOWLEDGED_FILE, LossAcknowledgement)
    if seen is None:
        return OpenLosses(
            evicted=losses.evicted, torn_tails=losses.torn_tails, since_ns=losses.first_loss_ns
        )
    # A spool folder made anew restarts its totals below the acknowledged ones: all open.
    fresh = losses.evicted < seen.evicted or losses.torn_tails < seen.torn_tails
    return OpenLosses(
        evicted=losses.evicted - (0 if fresh else seen.evicted),
        torn_tails=losses.torn_tails - (0 if fresh else seen.torn_tails),
        since_ns=losses.first_loss_ns if fresh else seen.acknowledged_ns,
    )


def acknowledge_losses(directory: Path, by: str) -> OpenLosses:
    """Accept every loss counted so far; returns what was open before."""
    before = open_losses(directory)
    losses = read_losses(directory)
    seen = LossAcknowledgement(
        evicted=losses.evicted,
        torn_tails=losses.torn_tails,
        acknowledged_ns=time.time_ns(),
        by=by,
    )
    if directory.is_dir():
        write_private(directory / ACKNOWLEDGED_FILE, msgspec.json.encode(seen) + b"\n")
    return before
