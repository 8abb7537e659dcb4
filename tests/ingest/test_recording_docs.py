"""docs/recording-format.md matches the code: its example file reads as documented and is
written again byte for byte."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ingest.notification import Notification
from ingest.recording import (
    CHUNK_HEADER,
    FORMAT_VERSION,
    MAGIC,
    PREAMBLE,
    DeviceEntry,
    Marker,
    NotificationRecord,
    RecordingHeader,
    RecordingReader,
    RecordingWriter,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "recording-format.md").read_text()


def _block(kind: str) -> str:
    match = re.search(rf"```{kind}\n(.*?)\n```", DOC, re.S)
    assert match, kind
    return match.group(1)


def test_documented_framing_matches_the_code() -> None:
    assert MAGIC == b"VAGUSREC" and FORMAT_VERSION == 1
    assert PREAMBLE.size == 12 and CHUNK_HEADER.size == 12
    assert '"VAGUSREC" | format_version:u16 (= 1) | flags:u16 (= 0)' in DOC


def test_example_reads_as_documented_and_rewrites_identically(tmp_path: Path) -> None:
    data = bytes.fromhex("".join(_block("hex").split()))
    path = tmp_path / "example.vrec"
    path.write_bytes(data)
    listed = json.loads(_block("json"))
    header_fields = listed[0][1]
    reader = RecordingReader(path)
    header = reader.header
    assert header == RecordingHeader(
        **(header_fields | {"devices": [DeviceEntry(**d) for d in header_fields["devices"]]})
    )
    records = list(reader)
    assert reader.report.intact
    marker, notification = records
    assert isinstance(marker, Marker) and isinstance(notification, NotificationRecord)
    assert [3, marker.gateway_time_ns, marker.label, marker.detail] == listed[1]
    tag, device, characteristic, gateway_ns, device_ns, payload_hex = listed[2]
    assert tag == 2
    assert notification == NotificationRecord(
        device, characteristic, gateway_ns, device_ns, bytes.fromhex(payload_hex)
    )
    rewritten = tmp_path / "again.vrec"
    with RecordingWriter(rewritten, header, flush_interval_s=float("inf"), fsync=False) as writer:
        writer.write_marker(marker.gateway_time_ns, marker.label, marker.detail)
        writer.write_notification(
            Notification(device, characteristic, gateway_ns, bytes.fromhex(payload_hex), device_ns)
        )
        writer.close(gateway_time_ns=listed[3][1])
    assert rewritten.read_bytes() == data
