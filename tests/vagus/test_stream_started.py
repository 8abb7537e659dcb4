"""Each stream is reported once, when its first samples arrive, not a window later."""

from __future__ import annotations

from pathlib import Path

from ingest.recording import DeviceRecord, NotificationRecord
from ingest.replay import open_recording
from stream.events import StreamStarted
from vagus.config import VagusConfig
from vagus.demo import DEFAULT_RECORDING
from vagus.record_driver import RecordDriver


def test_every_stream_is_reported_once_at_its_first_sample(tmp_path: Path) -> None:
    reader = open_recording(DEFAULT_RECORDING)
    driver = RecordDriver.build(
        devices={d.device_id: d for d in reader.header.devices},
        config=VagusConfig(),
        patient_id=reader.header.patient_id,
        producer_id="test",
        state_dir=tmp_path,
    )
    started: list[tuple[StreamStarted, int]] = []
    first_window_ns = None
    for record in reader:
        closed = driver.handle(record)
        if first_window_ns is None and closed:
            first_window_ns = closed[0].window.gateway_time_ns
        for notice in driver.take_notices():
            assert isinstance(notice, StreamStarted)
            assert isinstance(record, NotificationRecord | DeviceRecord)
            started.append((notice, getattr(record, "gateway_time_ns", 0)))
        if first_window_ns is not None and len(started) >= 4:
            break
    streams = [notice.stream for notice, _ in started]
    assert len(streams) == len(set(streams)), streams  # once each
    assert {"ecg", "eda", "acc"} <= set(streams)
    assert first_window_ns is not None
    for notice, seen_at_ns in started:
        assert notice.gateway_time_ns <= seen_at_ns  # the first sample's own time
        assert notice.gateway_time_ns < first_window_ns  # long before the first window
        assert notice.patient_id == reader.header.patient_id
    assert all(n.rate_hz is None or n.rate_hz > 0 for n, _ in started)
