"""Damaged recordings: the reader keeps every chunk the damage did not touch, says what it lost,
and `vagus recording info` and `vagus replay --dry-run` agree on the exit status (0 intact,
3 damaged, 2 unusable)."""

from __future__ import annotations

import functools
import json
import random
import re
import tempfile
import zlib
from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import ingest.recording
from ingest.errors import RecordingError
from ingest.notification import Notification
from ingest.recording import (
    CHUNK_HEADER,
    HEADER_UNREADABLE,
    MAX_CHUNK_BYTES,
    PREAMBLE,
    RECORD_LENGTH,
    DeviceEntry,
    HeaderRecord,
    Marker,
    NotificationRecord,
    Record,
    RecordingHeader,
    RecordingReader,
    RecordingWriter,
)
from tests.helpers import run_vagus

HEADER = RecordingHeader(
    patient_id="p-0123456789ab",
    start_time_ns=1_700_000_000_000_000_000,
    devices=[DeviceEntry(device_id="d-01234567", profile="heart-rate")],
)
_decoder: msgspec.msgpack.Decoder[Record] = msgspec.msgpack.Decoder(Record)


def _write(path: Path, count: int, chunk_records: int) -> None:
    """``count`` heart-rate notifications and a marker every 10, ``chunk_records`` a chunk."""
    with RecordingWriter(
        path, HEADER, flush_interval_s=3600, max_chunk_records=chunk_records, fsync=False
    ) as writer:
        for i in range(count):
            if i % 10 == 0:
                writer.write_marker(HEADER.start_time_ns + i, f"phase:{i}")
            writer.write_notification(
                Notification(
                    device_id="d-01234567",
                    characteristic="00002a37-0000-1000-8000-00805f9b34fb",
                    gateway_time_ns=HEADER.start_time_ns + i * 1_000_000_000,
                    payload=bytes([0x00, 60 + i % 40]),
                )
            )


@functools.cache
def _recording(count: int, chunk_records: int) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "r.vrec"
        _write(path, count, chunk_records)
        return path.read_bytes()


def _chunks(data: bytes) -> list[tuple[int, int, list[Record]]]:
    """(start, end, records) of every chunk of an intact file, from the framing alone."""
    table = []
    offset = PREAMBLE.size
    while offset < len(data):
        length, _crc, _count = CHUNK_HEADER.unpack_from(data, offset)
        end = offset + CHUNK_HEADER.size + length
        raw = zlib.decompress(data[offset + CHUNK_HEADER.size : end])
        records: list[Record] = []
        position = 0
        while position < len(raw):
            (size,) = RECORD_LENGTH.unpack_from(raw, position)
            records.append(_decoder.decode(raw[position + 4 : position + 4 + size]))
            position += 4 + size
        table.append((offset, end, records))
        offset = end
    return table


def _payload(records: list[Record]) -> list[Record]:
    """What iteration yields of these: notifications and markers (no device records here)."""
    return [r for r in records if isinstance(r, NotificationRecord | Marker)]


def _read(path: Path) -> tuple[RecordingReader, list[Record]]:
    reader = RecordingReader(path)
    return reader, list(reader)


@pytest.mark.parametrize("byte", [0, 1, 2, 3])
def test_a_flipped_length_byte_loses_only_its_chunk(tmp_path: Path, byte: int) -> None:
    data = _recording(600, 50)
    table = _chunks(data)
    start, _end, lost = table[len(table) // 2]
    damaged = bytearray(data)
    damaged[start + byte] ^= 0x5A
    path = tmp_path / "r.vrec"
    path.write_bytes(bytes(damaged))
    reader, records = _read(path)
    expected = [r for s, _e, chunk in table if s != start for r in _payload(chunk)]
    assert records == expected
    notes = sum(isinstance(r, NotificationRecord) for r in records)
    assert notes == 600 - sum(isinstance(r, NotificationRecord) for r in lost)
    assert reader.report.corrupt_chunks == 1 and reader.report.clean_end
    assert not reader.report.intact
    assert reader.report.skipped_bytes == _end - start
    assert any(
        f"chunk at byte {start}: " in p and "bytes) skipped" in p for p in reader.report.problems
    )


_damage = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
    st.tuples(st.just("zero"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
    st.tuples(st.just("cut"), st.floats(0, 1), st.just(0)),
)


@settings(max_examples=150, deadline=None)
@given(damages=st.lists(_damage, min_size=1, max_size=3))
@example(damages=[("flip", 0.005859375, 1)])  # the first chunk's record count, outside its CRC
def test_random_damage_keeps_every_untouched_chunk_and_invents_nothing(
    tmp_path_factory: pytest.TempPathFactory, damages: list[tuple[str, float, int]]
) -> None:
    data = _recording(80, 8)
    damaged = bytearray(data)
    for kind, where, amount in damages:
        # The preamble is checked on its own (a wrong magic is not a recording at all).
        position = PREAMBLE.size + int(where * (len(damaged) - PREAMBLE.size))
        if kind == "flip" and position < len(damaged):
            damaged[position] ^= amount
        elif kind == "zero":
            damaged[position : position + amount] = bytes(
                len(damaged[position : position + amount])
            )
        elif kind == "cut":
            del damaged[position:]

    def touched(start: int, end: int) -> bool:
        return end > len(damaged) or damaged[start:end] != data[start:end]

    table = _chunks(data)
    untouched = [chunk for start, end, chunk in table if not touched(start, end)]
    path = tmp_path_factory.mktemp("damage") / "r.vrec"
    path.write_bytes(bytes(damaged))
    try:
        reader, records = _read(path)
    except RecordingError:
        assert not untouched  # unusable only when nothing survived
        return
    written = [r for _s, _e, chunk in table for r in _payload(chunk)]
    remaining = iter(written)
    assert all(record in remaining for record in records)  # an in-order subsequence
    kept = set(records)
    assert all(r in kept for chunk in untouched for r in _payload(chunk))
    # The record count (the header's last field) is outside the CRC: a wrong count is reported
    # as a mismatch, and the header record, whose bytes verify, is still read.
    first_start, first_end = table[0][0], table[0][1]
    count_field = first_start + CHUNK_HEADER.size - 4
    header_verifies = not touched(first_start, count_field) and not touched(
        count_field + 4, first_end
    )
    assert reader.report.header_readable == header_verifies
    assert reader.header == (HEADER if header_verifies else ingest.recording.UNKNOWN_HEADER)
    assert reader.report.intact == (bytes(damaged) == data)


@pytest.mark.parametrize("where", ["body", "length"])
def test_a_damaged_header_chunk_keeps_the_notifications(tmp_path: Path, where: str) -> None:
    data = _recording(600, 50)
    table = _chunks(data)
    assert isinstance(table[0][2][0], HeaderRecord)
    damaged = bytearray(data)
    damaged[PREAMBLE.size + (CHUNK_HEADER.size + 5 if where == "body" else 1)] ^= 0x20
    path = tmp_path / "r.vrec"
    path.write_bytes(bytes(damaged))
    reader, records = _read(path)
    assert records == [r for _s, _e, chunk in table for r in _payload(chunk)]
    assert not reader.header_readable and not reader.report.intact
    assert reader.header.devices == [] and reader.header.patient_id == "unknown"
    assert reader.report.problems[0] == HEADER_UNREADABLE


def test_a_header_and_nothing_after_it_readable_is_unusable(tmp_path: Path) -> None:
    data = _recording(600, 50)
    path = tmp_path / "r.vrec"
    path.write_bytes(data[: PREAMBLE.size] + bytes(len(data) - PREAMBLE.size))
    with pytest.raises(RecordingError, match="nothing readable"):
        RecordingReader(path)


@pytest.mark.parametrize("garbage", ["random", "fake chunk headers"])
def test_a_large_damaged_region_costs_linear_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, garbage: str
) -> None:
    """2 MB of garbage between chunks. Random bytes almost never even earn a CRC, and every
    chunk after them reads. Fake chunk headers that pass every cheap test, each claiming the
    rest of the file, would cost a CRC over most of the file apiece (quadratic): the resync
    budget keeps the total linear, at the price of the chunks after such a region."""
    data = _recording(600, 50)
    table = _chunks(data)
    cut = table[3][1]
    rng = random.Random(13)
    region = bytearray(rng.randbytes(2_000_000) if garbage == "random" else b"")
    while len(region) < 2_000_000:
        remaining = 2_000_000 - len(region) + len(data) - cut
        region += CHUNK_HEADER.pack(remaining - 20, rng.getrandbits(32), 1) + b"\x78\x9c"
    path = tmp_path / "r.vrec"
    path.write_bytes(data[:cut] + bytes(region) + data[cut:])
    hashed = 0
    crc32 = zlib.crc32

    def counting(buffer: memoryview | bytes, value: int = 0) -> int:
        nonlocal hashed
        hashed += len(buffer)
        return crc32(buffer, value)

    monkeypatch.setattr(zlib, "crc32", counting)  # the module ingest.recording calls
    reader, records = _read(path)
    size = path.stat().st_size
    assert hashed >= sum(end - start - CHUNK_HEADER.size for start, end, _r in table[:4])
    assert hashed <= 3 * size + 2 * MAX_CHUNK_BYTES
    assert not reader.report.intact
    before = [r for _s, _e, chunk in table[:4] for r in _payload(chunk)]
    if garbage == "random":
        assert records == [r for _s, _e, chunk in table for r in _payload(chunk)]
        assert hashed <= 2 * len(data)  # each chunk hashed once or twice, the garbage never
        assert reader.report.skipped_bytes == len(region)
    else:
        assert records[: len(before)] == before


def _damaged_files(directory: Path) -> dict[str, Path]:
    """One file per exit status case: intact, each kind of damage, and unusable."""
    data = _recording(200, 50)
    table = _chunks(data)
    files = {}

    def put(name: str, content: bytes) -> None:
        files[name] = directory / f"{name}.vrec"
        files[name].write_bytes(content)

    put("intact", data)
    middle = bytearray(data)
    middle[table[2][0] + 1] ^= 0x01  # a length field
    put("length-flip", bytes(middle))
    count = bytearray(data)
    count[table[2][0] + 8] ^= 0x01  # a record count: the CRC still verifies
    put("chunk-count", bytes(count))
    header = bytearray(data)
    header[PREAMBLE.size + 20] ^= 0xFF
    put("header", bytes(header))
    put("truncated", data[: table[-1][0] + 30])
    put("not-a-recording", b"shopping list: eggs, bread")
    put("nothing-readable", data[: PREAMBLE.size] + bytes(500))
    end_path = directory / "end-count.vrec"
    with RecordingWriter(end_path, HEADER, fsync=False) as writer:
        writer.write_marker(HEADER.start_time_ns, "phase:baseline")
        writer.records_written += 5  # the end record then counts five records never written
    files["end-count"] = end_path
    return files


EXPECTED_STATUS = {
    "intact": 0,
    "length-flip": 3,
    "chunk-count": 3,
    "end-count": 3,
    "header": 3,
    "truncated": 3,
    "not-a-recording": 2,
    "nothing-readable": 2,
}


@pytest.mark.parametrize("command", [("recording", "info"), ("replay", "--dry-run", "--json")])
def test_info_and_dry_run_exit_statuses_agree(tmp_path: Path, command: tuple[str, ...]) -> None:
    files = _damaged_files(tmp_path)
    statuses = {}
    for name, path in files.items():
        result = run_vagus(*command, str(path))
        statuses[name] = result.returncode
        assert "Traceback" not in result.stderr, (name, result.stderr)
        if result.returncode == 2:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            continue
        report = json.loads(result.stdout)
        problems = report["file"]["problems"] if "file" in report else report["problems"]
        assert (result.returncode == 3) == bool(problems), (name, problems)
    assert statuses == EXPECTED_STATUS


def test_a_problem_says_where_what_and_how_many_bytes(tmp_path: Path) -> None:
    files = _damaged_files(tmp_path)
    result = run_vagus("recording", "info", str(files["length-flip"]))
    problems = json.loads(result.stdout)["problems"]
    assert any(
        re.fullmatch(r"chunk at byte \d+: .+; bytes \d+-\d+ \(\d+ bytes\) skipped .+", p)
        for p in problems
    ), problems
    result = run_vagus("recording", "info", str(files["chunk-count"]))
    assert any("records where its header says" in p for p in json.loads(result.stdout)["problems"])
    result = run_vagus("recording", "info", str(files["end-count"]))
    assert any("end record counts" in p for p in json.loads(result.stdout)["problems"])
