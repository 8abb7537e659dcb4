"""Recording format v1: round trips, crash tolerance and damage reports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import RecordingError
from ingest.notification import Notification
from ingest.recording import (
    PREAMBLE,
    DeviceEntry,
    Marker,
    NotificationRecord,
    RecordingHeader,
    RecordingReader,
    RecordingWriter,
)

HEADER = RecordingHeader(
    patient_id="p-0123456789ab",
    start_time_ns=1_700_000_000_000_000_000,
    devices=[DeviceEntry(device_id="d-01234567", profile="polar-h10")],
)


def _notification(i: int) -> Notification:
    return Notification(
        device_id="d-01234567",
        characteristic="00002a37-0000-1000-8000-00805f9b34fb",
        gateway_time_ns=HEADER.start_time_ns + i * 1_000_000,
        payload=bytes([0x10, 60 + i % 40, i % 256, 3]),
        device_time_ns=None if i % 2 else i,
    )


def _write(path: Path, count: int, **kwargs: object) -> None:
    with RecordingWriter(path, HEADER, **kwargs) as writer:  # type: ignore[arg-type]
        for i in range(count):
            writer.write_notification(_notification(i))
            if i % 100 == 0:
                writer.write_marker(HEADER.start_time_ns + i, f"phase:{i}", "detail")


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "r.vrec"
    _write(path, 1000, max_chunk_records=128)
    reader = RecordingReader(path)
    assert reader.header == HEADER
    records = list(reader)
    notes = [r.to_notification() for r in records if isinstance(r, NotificationRecord)]
    assert notes == [_notification(i) for i in range(1000)]
    assert [r.label for r in records if isinstance(r, Marker)] == [
        f"phase:{i}" for i in range(0, 1000, 100)
    ]
    assert reader.report.intact
    assert reader.report.chunks > 5


def test_compression_shrinks_repetitive_payloads(tmp_path: Path) -> None:
    path = tmp_path / "r.vrec"
    _write(path, 5000)
    raw_bytes = 5000 * (4 + 40 + 8 + 8 + 12)
    assert path.stat().st_size < raw_bytes / 3


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "r.vrec"
    _write(path, 1)
    with pytest.raises(RecordingError, match="never overwritten"):
        RecordingWriter(path, HEADER)


def test_not_a_recording_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.vrec"
    path.write_bytes(b"hello world, not a recording at all")
    with pytest.raises(RecordingError, match="not a vagus recording"):
        RecordingReader(path)
    path.write_bytes(b"VAG")
    with pytest.raises(RecordingError, match="too short"):
        RecordingReader(path)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_any_truncation_keeps_the_intact_prefix(
    tmp_path_factory: pytest.TempPathFactory, cut: int
) -> None:
    directory = tmp_path_factory.mktemp("cut")
    full = directory / "full.vrec"
    _write(full, 600, max_chunk_records=50)
    data = full.read_bytes()
    cut_at = PREAMBLE.size + 200 + cut % (len(data) - PREAMBLE.size - 200)
    truncated = directory / "cut.vrec"
    truncated.write_bytes(data[:cut_at])
    reader = RecordingReader(truncated)
    notes = [r for r in reader if isinstance(r, NotificationRecord)]
    expected = [_notification(i) for i in range(len(notes))]
    assert [n.to_notification() for n in notes] == expected
    assert not reader.report.clean_end
    # Every byte is accounted for: whole chunks read, or reported as the truncated tail.
    assert reader.report.truncated_tail_bytes >= 0
    assert reader.report.truncated_tail_bytes < len(data)


def test_corrupt_chunk_in_the_middle_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "r.vrec"
    _write(path, 600, max_chunk_records=50)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    reader = RecordingReader(path)
    notes = [r for r in reader if isinstance(r, NotificationRecord)]
    assert reader.report.corrupt_chunks == 1
    assert 500 <= len(notes) < 600
    assert reader.report.clean_end
    assert any("checksum" in p for p in reader.report.problems)


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ingest.notification import Notification
    from ingest.recording import DeviceEntry, RecordingHeader, RecordingWriter
    header = RecordingHeader(patient_id="p-0123456789ab", start_time_ns=0,
                             devices=[DeviceEntry(device_id="d-01234567", profile="polar-h10")])
    writer = RecordingWriter(Path(sys.argv[1]), header, flush_interval_s=0.01, fsync=False)
    i = 0
    while True:
        writer.write_notification(Notification("d-01234567", "2a37", i, bytes(200)))
        i += 1
        if i % 20 == 0:
            print(i, flush=True)
            time.sleep(0.001)
    """
)


def test_writer_killed_mid_write_leaves_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "killed.vrec"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    written = 0
    while written < 3000 and time.monotonic() < deadline:
        written = int(process.stdout.readline() or 0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    assert written >= 3000
    reader = RecordingReader(path)
    times = [r.gateway_time_ns for r in reader if isinstance(r, NotificationRecord)]
    assert times == list(range(len(times)))  # an unbroken prefix
    assert len(times) > 1000
    assert not reader.report.clean_end
