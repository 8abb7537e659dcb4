"""The record driver: what the gateway, the demo and `vagus analyze` all run per record."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import msgspec
import pytest

from hardware.clock import WallClock
from hardware.devices import SimulatedDevice
from ingest.recording import DeviceRecord, Marker, NotificationRecord
from ingest.replay import open_recording
from ingest.transport.gaps import GAP_MARKER_LABEL, Gap
from stream.events import StreamGap
from stream.settings import KafkaSettings
from vagus.config import VagusConfig
from vagus.demo import DEFAULT_RECORDING
from vagus.gateway import Gateway
from vagus.record_driver import RecordDriver

NS = 1_000_000_000


def _driver(tmp_path: Path, *, declared: bool = True) -> RecordDriver:
    header = open_recording(DEFAULT_RECORDING).header
    return RecordDriver.build(
        devices={d.device_id: d for d in header.devices} if declared else {},
        config=VagusConfig(),
        patient_id=header.patient_id,
        producer_id="test",
        state_dir=tmp_path,
    )


def _notifications(count: int) -> list[NotificationRecord]:
    records = (r for r in open_recording(DEFAULT_RECORDING) if isinstance(r, NotificationRecord))
    return list(itertools.islice(records, count))


def test_the_bundled_recording_closes_its_windows_on_data_time(tmp_path: Path) -> None:
    driver = _driver(tmp_path)
    closed = [w for r in open_recording(DEFAULT_RECORDING) for w in driver.handle(r)]
    assert closed  # windows close while the data flows, not only at the end
    closed += driver.finish()
    ends = [c.window.window_end_ns for c in closed]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)
    assert driver.pipeline.counters.windows == len(closed)
    assert driver.stats.notifications > 0
    assert not driver.stats.decode_errors
    assert driver.finish() == []  # nothing closes twice


def test_bad_bytes_and_undeclared_devices_are_counted_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    driver = _driver(tmp_path)
    good = _notifications(20)
    broken = msgspec.structs.replace(good[0], payload=b"\x00")
    stranger = msgspec.structs.replace(good[1], device_id="d-zzzzzzzz")
    with caplog.at_level(logging.WARNING, logger="vagus.record_driver"):
        for record in [broken, broken, stranger, *good[2:]]:
            assert driver.handle(record) == []
    key = f"{broken.device_id}/{broken.characteristic}"
    assert driver.stats.decode_errors == {key: 2, f"d-zzzzzzzz/{stranger.characteristic}": 1}
    assert driver.stats.notifications == 21  # every one counted, decodable or not
    assert caplog.text.count("decode error") == 2  # once per stream, then only counted


def test_a_device_declared_mid_stream_is_decoded_from_then_on(tmp_path: Path) -> None:
    driver = _driver(tmp_path, declared=False)
    record = _notifications(1)[0]
    driver.handle(record)
    assert sum(driver.stats.decode_errors.values()) == 1
    devices = open_recording(DEFAULT_RECORDING).header.devices
    entry = next(d for d in devices if d.device_id == record.device_id)
    driver.handle(DeviceRecord(entry))
    driver.handle(record)
    assert sum(driver.stats.decode_errors.values()) == 1  # the second one decoded


def gap_fields(gap: Gap) -> tuple[str, str, str]:
    return gap.device_id, gap.stream, gap.reason


def test_gap_markers_reach_the_pipeline_and_bad_ones_are_counted(tmp_path: Path) -> None:
    driver = _driver(tmp_path)
    t0 = 1_700_000_000 * NS
    gap = Gap("d-x6b6t4rk", "ecg", t0, t0 + 20 * NS, "disconnected")
    driver.handle(gap.marker(t0 + 20 * NS))
    driver.handle(Marker(t0, GAP_MARKER_LABEL, "not json"))
    driver.handle(Marker(t0, "phase:baseline", ""))
    assert driver.pipeline.engine.gaps["ecg"].overlap_ns(t0, t0 + 60 * NS) == 20 * NS
    assert driver.stats.bad_gap_markers == 1
    assert driver.take_notices() == []  # the engine reports a stream's gap from its samples
    link = Gap("d-x6b6t4rk", "link", t0 + 30 * NS, t0 + 40 * NS, "disconnected")
    driver.handle(link.marker(t0 + 40 * NS))
    (reported,) = driver.take_notices()  # a link lost before any data: reported as it is
    assert isinstance(reported, StreamGap)
    assert (reported.device_id, reported.stream, reported.reason) == gap_fields(link)
    assert (reported.gap_start_ns, reported.gap_end_ns, reported.gateway_time_ns) == (
        t0 + 30 * NS,
        t0 + 40 * NS,
        t0 + 40 * NS,
    )
    assert driver.pipeline.counters.stream_gaps == 1
    assert [m.label for m in driver.stats.markers] == [
        GAP_MARKER_LABEL,
        GAP_MARKER_LABEL,
        "phase:baseline",
        GAP_MARKER_LABEL,
    ]


async def test_the_gateway_runs_the_driver_and_keeps_its_names(tmp_path: Path) -> None:
    gateway = Gateway(
        kafka=KafkaSettings().with_bootstrap("127.0.0.1:9"),
        config=VagusConfig(),
        patient_id="p-7k3m9q2x4v8w",
        devices={"d-abcdefgh": "polar-h10"},
        clock=WallClock(),
        output_device=SimulatedDevice(),
        lockstep=False,
        state_dir=tmp_path,
    )
    try:
        assert gateway.pipeline is gateway.driver.pipeline
        assert gateway.stats is gateway.driver.stats
        await gateway.handle(Marker(0, "phase:baseline", ""))
        assert gateway.stats.markers == gateway.driver.stats.markers != []
    finally:
        await gateway.stop()
