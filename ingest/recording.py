"""Recording format v1: append-only, chunked, compressed raw notifications.

docs/recording-format.md is the specification. A file is a 12-byte preamble followed by
independent chunks. Each chunk is a zlib stream of length-prefixed MessagePack records, framed by
its compressed length, its CRC-32 and its record count. A writer killed mid-write leaves whole
chunks followed by at most one partial chunk: readers return every record of the whole chunks and
report the partial tail instead of failing.
"""

from __future__ import annotations

import os
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
            self._file: IO[bytes] = open(path, mode)  # noqa: SIM115 - closed by close()
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
    """What a read found besides the records: how complete and how damaged the file was."""

    chunks: int = 0
    records: int = 0
    clean_end: bool = False
    truncated_tail_bytes: int = 0
    corrupt_chunks: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.clean_end and not self.truncated_tail_bytes and not self.corrupt_chunks


class RecordingReader:
    """Reads a v1 recording; iteration yields device, notification and marker records in order.

    Damage never raises mid-iteration: a partial last chunk ends the iteration and is counted in
    :attr:`report`; a chunk whose checksum fails is skipped when the next chunk can be found.
    A file that is not a recording at all raises :class:`RecordingError` on open.
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
        first = next(self._records(), None)
        if not isinstance(first, HeaderRecord):
            raise RecordingError(f"{path}: the first record is not a header")
        self.header = first.header
        self.devices: dict[str, DeviceEntry] = {d.device_id: d for d in self.header.devices}

    def __iter__(self) -> Iterator[DeviceRecord | NotificationRecord | Marker]:
        self.report = ReadReport()
        for record in self._records():
            if isinstance(record, DeviceRecord):
                self.devices[record.device.device_id] = record.device
                yield record
            elif isinstance(record, NotificationRecord | Marker):
                yield record
            elif isinstance(record, EndRecord):
                self.report.clean_end = True

    def notifications(self) -> Iterator[Notification]:
        for record in self:
            if isinstance(record, NotificationRecord):
                yield record.to_notification()

    def _records(self) -> Iterator[Record]:
        offset = PREAMBLE.size
        data = self._data
        while offset < len(data):
            chunk = self._chunk_at(offset)
            if chunk is None:
                return
            records, next_offset = chunk
            yield from records
            offset = next_offset

    def _chunk_at(self, offset: int) -> tuple[list[Record], int] | None:
        data = self._data
        remaining = len(data) - offset
        if remaining < CHUNK_HEADER.size:
            self._truncated(offset, "partial chunk header")
            return None
        length, crc, count = CHUNK_HEADER.unpack_from(data, offset)
        start = offset + CHUNK_HEADER.size
        if length > MAX_CHUNK_BYTES:
            self._corrupt_tail(offset, f"chunk length {length} exceeds the format's limit")
            return None
        if start + length > len(data):
            self._truncated(offset, f"chunk of {length} bytes cut off")
            return None
        body = data[start : start + length]
        if zlib.crc32(body) != crc:
            self.report.corrupt_chunks += 1
            self.report.problems.append(f"chunk at byte {offset}: checksum mismatch, skipped")
            return [], start + length
        try:
            raw = zlib.decompress(body)
            records = list(_iter_records(raw))
        except (zlib.error, msgspec.DecodeError) as exc:
            self.report.corrupt_chunks += 1
            self.report.problems.append(f"chunk at byte {offset}: {exc}, skipped")
            return [], start + length
        if len(records) != count:
            self.report.problems.append(
                f"chunk at byte {offset}: {len(records)} records where the header says {count}"
            )
        self.report.chunks += 1
        self.report.records += len(records)
        return records, start + length

    def _truncated(self, offset: int, why: str) -> None:
        self.report.truncated_tail_bytes = len(self._data) - offset
        self.report.problems.append(f"truncated tail at byte {offset}: {why}")

    def _corrupt_tail(self, offset: int, why: str) -> None:
        self.report.corrupt_chunks += 1
        self.report.truncated_tail_bytes = len(self._data) - offset
        self.report.problems.append(f"unreadable from byte {offset}: {why}")


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
