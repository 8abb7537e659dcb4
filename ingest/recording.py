"""Recording format v1: append-only, chunked, compressed raw notifications.

docs/recording-format.md is the specification. A file is a 12-byte preamble followed by
independent chunks. Each chunk is a zlib stream of length-prefixed MessagePack records, framed by
its compressed length, its CRC-32 and its record count. A writer killed mid-write leaves whole
chunks followed by at most one partial chunk: readers return every record of the whole chunks and
report the partial tail instead of failing. Damage anywhere else costs only the chunks it touches:
the reader resynchronises on the next chunk whose CRC verifies ("Reading damaged files").
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import msgspec

from ingest.errors import RecordingError
from ingest.notification import Notification
from ingest.private_files import open_private

MAGIC = b"VAGUSREC"
FORMAT_VERSION = 1
#: Version 2 is version 1 plus devices that carry their sample-stream profile inline (imports).
INLINE_PROFILE_VERSION = 2
READABLE_VERSIONS = (FORMAT_VERSION, INLINE_PROFILE_VERSION)
PREAMBLE = struct.Struct("<8sHH")  # magic, format version, flags (0)
CHUNK_HEADER = struct.Struct("<III")  # compressed length, crc32 of compressed bytes, records
RECORD_LENGTH = struct.Struct("<I")
MAX_CHUNK_BYTES = 64 * 1024 * 1024


class DeviceEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A device in a recording: its pseudonymous id and the profile that decodes it.

    ``stream_profile`` (format 2) is the TOML text of a sample-stream profile carried in the
    recording itself, for imported data whose rate and scale are the source file's own.
    """

    device_id: str
    profile: str
    label: str = ""
    stream_profile: str | None = None


class RecordingHeader(msgspec.Struct, frozen=True, kw_only=True):
    """What a recording is: whose, from when, which devices, made by what."""

    format_version: int = FORMAT_VERSION
    patient_id: str
    start_time_ns: int
    devices: list[DeviceEntry]
    producer: str = "vagus"
    simulated: bool = False
    notes: str = ""


class HeaderRecord(msgspec.Struct, frozen=True, array_like=True, tag=0):
    header: RecordingHeader


class DeviceRecord(msgspec.Struct, frozen=True, array_like=True, tag=1):
    """A device that joined after the recording started."""

    device: DeviceEntry


class NotificationRecord(msgspec.Struct, frozen=True, array_like=True, tag=2):
    device_id: str
    characteristic: str
    gateway_time_ns: int
    device_time_ns: int | None
    payload: bytes

    def to_notification(self) -> Notification:
        return Notification(
            device_id=self.device_id,
            characteristic=self.characteristic,
            gateway_time_ns=self.gateway_time_ns,
            payload=self.payload,
            device_time_ns=self.device_time_ns,
        )


class Marker(msgspec.Struct, frozen=True, array_like=True, tag=3):
    """A labelled instant: a protocol phase boundary, a patient's button press."""

    gateway_time_ns: int
    label: str
    detail: str = ""


class EndRecord(msgspec.Struct, frozen=True, array_like=True, tag=4):
    """Written by a clean close; its absence means the writer stopped abruptly."""

    gateway_time_ns: int
    records: int


Record = HeaderRecord | DeviceRecord | NotificationRecord | Marker | EndRecord

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Record] = msgspec.msgpack.Decoder(Record)


class RecordingWriter:
    """Appends records; a chunk is written whenever ``flush_interval_s`` or the size limit passes.

    At most the records of one unflushed interval are lost if the process dies; ``fsync`` on
    each chunk makes that true across a power cut too, at some cost on SD cards.
    """

    def __init__(
        self,
        path: Path,
        header: RecordingHeader,
        *,
        flush_interval_s: float = 1.0,
        max_chunk_records: int = 1024,
        fsync: bool = True,
        overwrite: bool = False,
    ) -> None:
        if header.format_version not in READABLE_VERSIONS:
            raise RecordingError(f"this writer writes formats {READABLE_VERSIONS} only")
        if header.format_version < INLINE_PROFILE_VERSION and any(
            d.stream_profile is not None for d in header.devices
        ):
            raise RecordingError("inline stream profiles need format_version 2")
        self._version = header.format_version
        mode = "wb" if overwrite else "xb"
        try:
            self._file: IO[bytes] = open_private(path, mode)  # 0600: a patient's signals
        except FileExistsError as exc:
            raise RecordingError(f"{path} exists; recordings are never overwritten") from exc
        self.path = path
        self._flush_interval_s = flush_interval_s
        self._max_chunk_records = max_chunk_records
        self._fsync = fsync
        self._buffer: list[bytes] = []
        self._last_flush = time.monotonic()
        self.records_written = 0
        self._file.write(PREAMBLE.pack(MAGIC, header.format_version, 0))
        self._append(HeaderRecord(header))
        self.flush()

    def add_device(self, device: DeviceEntry) -> None:
        if device.stream_profile is not None and self._version < INLINE_PROFILE_VERSION:
            raise RecordingError("inline stream profiles need format_version 2")
        self._append(DeviceRecord(device))

    def write_notification(self, notification: Notification) -> None:
        self._append(
            NotificationRecord(
                notification.device_id,
                notification.characteristic,
                notification.gateway_time_ns,
                notification.device_time_ns,
                notification.payload,
            )
        )

    def write_marker(self, gateway_time_ns: int, label: str, detail: str = "") -> None:
        self._append(Marker(gateway_time_ns, label, detail))

    def _append(self, record: Record) -> None:
        if self._file.closed:
            raise RecordingError(f"{self.path} is closed")
        encoded = _encoder.encode(record)
        self._buffer.append(RECORD_LENGTH.pack(len(encoded)) + encoded)
        self.records_written += 1
        due = time.monotonic() - self._last_flush >= self._flush_interval_s
        if due or len(self._buffer) >= self._max_chunk_records:
            self.flush()

    def flush(self) -> None:
        """Write buffered records as one chunk (a single write call) and sync it."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        compressed = zlib.compress(b"".join(self._buffer), 6)
        header = CHUNK_HEADER.pack(len(compressed), zlib.crc32(compressed), len(self._buffer))
        self._file.write(header + compressed)
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self._buffer.clear()

    def close(self, gateway_time_ns: int | None = None) -> None:
        if self._file.closed:
            return
        end_time = time.time_ns() if gateway_time_ns is None else gateway_time_ns
        self._append(EndRecord(end_time, self.records_written + 1))
        self.flush()
        self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass
class ReadReport:
    """What a read found besides the records: how complete and how damaged the file was.

    ``problems`` lists every finding with where it is and how many bytes it cost, for a person;
    the counters are for code. A report is complete once iteration has finished.
    """

    chunks: int = 0
    records: int = 0
    clean_end: bool = False
    header_readable: bool = True
    truncated_tail_bytes: int = 0
    corrupt_chunks: int = 0
    skipped_bytes: int = 0
    count_mismatches: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """Nothing lost and nothing contradicted: `vagus recording info` and `vagus replay
        --dry-run` exit 0 exactly when this holds, 3 otherwise."""
        return (
            self.clean_end
            and self.header_readable
            and not self.truncated_tail_bytes
            and not self.corrupt_chunks
            and not self.skipped_bytes
            and not self.count_mismatches
        )

    def as_dict(self) -> dict[str, object]:
        """The report as `vagus recording info` and `vagus replay --dry-run` both print it."""
        return {"intact": self.intact, **dataclasses.asdict(self)}


#: Stands in for a header that could not be read, so that callers keep one type; check
#: ``reader.report.header_readable`` (or ``reader.header_readable``) before trusting it.
UNKNOWN_HEADER = RecordingHeader(
    patient_id="unknown", start_time_ns=0, devices=[], producer="unknown"
)
HEADER_UNREADABLE = "header unreadable: devices and patient unknown; notifications kept"

#: The smallest zlib stream (2-byte header, an empty final block, Adler-32): a shorter chunk
#: body is damage, not data (the writer never writes an empty chunk).
MIN_BODY_BYTES = 8
#: A resync candidate claiming more records than this is not a chunk the writer made (its
#: default is 1,024 a chunk); this cheap test keeps random bytes from costing a CRC.
MAX_RESYNC_RECORDS = 1 << 20
#: Where a chunk body may start: a zlib header for a 32 KiB window (RFC 1950: CMF 0x78 and an
#: FLG with its check bits and no preset dictionary). The writer's level 6 always gives 78 9c.
_BODY_START = re.compile(rb"\x78[\x01\x5e\x9c\xda]")


class RecordingReader:
    """Reads a recording; iteration yields device, notification and marker records in order.

    Damage never raises mid-iteration and never costs an intact chunk: a chunk whose framing,
    checksum or body is wrong is skipped by scanning forward to the next chunk whose CRC
    verifies (:meth:`_resync`), and a partial last chunk ends the iteration; both are counted
    in :attr:`report`. A damaged header chunk leaves :attr:`header` as :data:`UNKNOWN_HEADER`
    and the notifications readable. :class:`RecordingError` on open means the file is not a
    recording or nothing in it can be read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.report = ReadReport()
        self._data = path.read_bytes()
        if len(self._data) < PREAMBLE.size:
            raise RecordingError(f"{path}: {len(self._data)} bytes is too short for a recording")
        magic, version, _flags = PREAMBLE.unpack_from(self._data)
        if magic != MAGIC:
            raise RecordingError(f"{path}: not a vagus recording (magic {magic!r})")
        if version not in READABLE_VERSIONS:
            raise RecordingError(f"{path}: format version {version}; this reader reads 1 and 2")
        self._resync_budget = 0
        first = next(self._chunks(), None)
        if first is None:
            raise RecordingError(f"{path}: nothing readable: no chunk after the preamble verifies")
        offset, records = first
        if offset == PREAMBLE.size and isinstance(records[0], HeaderRecord):
            self.header, self.header_readable = records[0].header, True
        else:
            self.header, self.header_readable = UNKNOWN_HEADER, False
        self.devices: dict[str, DeviceEntry] = {d.device_id: d for d in self.header.devices}

    def __iter__(self) -> Iterator[DeviceRecord | NotificationRecord | Marker]:
        self.report = report = ReadReport(header_readable=self.header_readable)
        if not self.header_readable:
            report.problems.append(HEADER_UNREADABLE)
        for _offset, records in self._chunks():
            for record in records:
                if isinstance(record, DeviceRecord):
                    self.devices[record.device.device_id] = record.device
                    yield record
                elif isinstance(record, NotificationRecord | Marker):
                    yield record
                elif isinstance(record, EndRecord):
                    report.clean_end = True
                    if record.records != report.records:
                        report.count_mismatches += 1
                        report.problems.append(
                            f"end record counts {record.records} records; {report.records} "
                            f"were read ({record.records - report.records} lost or miscounted)"
                        )
        if not report.clean_end:
            report.problems.append("no end record: the writer stopped before a clean close")

    def notifications(self) -> Iterator[Notification]:
        for record in self:
            if isinstance(record, NotificationRecord):
                yield record.to_notification()

    def _chunks(self) -> Iterator[tuple[int, list[Record]]]:
        """(offset, records) of every chunk that verifies, damage skipped and reported."""
        data = self._data
        # Bytes that failed resync candidates may hash in all: linear in the file's size
        # however the damage is shaped, far more than random damage ever needs.
        self._resync_budget = 2 * len(data) + MAX_CHUNK_BYTES
        offset = PREAMBLE.size
        while offset < len(data):
            fault = self._fault_at(offset)
            if fault is None:
                length, _crc, count = CHUNK_HEADER.unpack_from(data, offset)
                end = offset + CHUNK_HEADER.size + length
                records = self._decode(offset, end, count)
                if records:
                    yield offset, records
                offset = end
                continue
            resumed = self._resync(offset + 1) if offset + CHUNK_HEADER.size < len(data) else None
            if resumed is None:
                self._tail(offset, fault)
                return
            self._skipped(offset, resumed, fault)
            offset = resumed

    def _fault_at(self, offset: int) -> str | None:
        """Why no chunk starts at ``offset``, or None when one does (its CRC verified)."""
        data = self._data
        if len(data) - offset < CHUNK_HEADER.size:
            return "partial chunk header"
        length, crc, _count = CHUNK_HEADER.unpack_from(data, offset)
        start = offset + CHUNK_HEADER.size
        if length > MAX_CHUNK_BYTES:
            return f"chunk length {length} exceeds the format's limit"
        if length < MIN_BODY_BYTES:
            return f"chunk length {length} is shorter than any zlib stream"
        if start + length > len(data):
            return f"chunk of {length} bytes cut off"
        if zlib.crc32(memoryview(data)[start : start + length]) != crc:
            return "checksum mismatch"
        return None

    def _resync(self, position: int) -> int | None:
        """The first offset at or after ``position`` where a chunk starts whose CRC verifies.

        Candidates are found by a regular-expression search for a zlib header 12 bytes in, and
        must claim a length that fits the file and a plausible record count before their CRC
        is computed; the CRC (1 in 2**32 to pass by chance) is what admits one.
        """
        data = self._data
        view = memoryview(data)
        search_from = position + CHUNK_HEADER.size
        while (match := _BODY_START.search(data, search_from)) is not None:
            start = match.start()
            search_from = start + 1
            length, crc, count = CHUNK_HEADER.unpack_from(data, start - CHUNK_HEADER.size)
            if not (
                MIN_BODY_BYTES <= length <= MAX_CHUNK_BYTES
                and start + length <= len(data)
                and 0 < count <= MAX_RESYNC_RECORDS
            ):
                continue
            if zlib.crc32(view[start : start + length]) == crc:
                return start - CHUNK_HEADER.size
            self._resync_budget -= length
            if self._resync_budget < 0:
                return None
        return None

    def _decode(self, offset: int, end: int, count: int) -> list[Record]:
        body = memoryview(self._data)[offset + CHUNK_HEADER.size : end]
        try:
            records = list(_iter_records(zlib.decompress(body)))
        except (zlib.error, msgspec.DecodeError) as exc:
            self.report.corrupt_chunks += 1
            self.report.skipped_bytes += end - offset
            self.report.problems.append(
                f"chunk at byte {offset}: its checksum verifies but its body does not decode "
                f"({exc}): {end - offset} bytes skipped"
            )
            return []
        if len(records) != count:
            self.report.count_mismatches += 1
            self.report.problems.append(
                f"chunk at byte {offset}: {len(records)} records where its header says {count}"
            )
        self.report.chunks += 1
        self.report.records += len(records)
        return records

    def _skipped(self, offset: int, resumed: int, why: str) -> None:
        self.report.corrupt_chunks += 1
        self.report.skipped_bytes += resumed - offset
        self.report.problems.append(
            f"chunk at byte {offset}: {why}; bytes {offset}-{resumed} ({resumed - offset} bytes) "
            "skipped to the next chunk whose checksum verifies"
        )

    def _tail(self, offset: int, why: str) -> None:
        """The rest of the file holds no chunk that verifies: cut short, or damaged to the end."""
        tail = len(self._data) - offset
        if why == "partial chunk header" or why.endswith("cut off"):
            self.report.truncated_tail_bytes = tail
            self.report.problems.append(f"truncated tail at byte {offset} ({tail} bytes): {why}")
            return
        self.report.corrupt_chunks += 1
        self.report.skipped_bytes += tail
        self.report.problems.append(
            f"chunk at byte {offset}: {why}; bytes {offset}-{len(self._data)} ({tail} bytes) "
            "skipped: no chunk after it verifies"
        )


def _iter_records(raw: bytes) -> Iterator[Record]:
    """Split a chunk body: each record is a u32 LE length then that many MessagePack bytes."""
    view = memoryview(raw)
    position = 0
    while position < len(view):
        if position + RECORD_LENGTH.size > len(view):
            raise msgspec.DecodeError("record length cut off")
        (length,) = RECORD_LENGTH.unpack_from(view, position)
        position += RECORD_LENGTH.size
        if position + length > len(view):
            raise msgspec.DecodeError("record cut off")
        yield _decoder.decode(view[position : position + length])
        position += length
