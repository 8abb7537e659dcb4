"""A gap marker, live or replayed, reaches the pipeline: no interval is ever joined across it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hardware.clock import WallClock
from hardware.devices import SimulatedDevice
from ingest.recording import Marker
from ingest.transport.gaps import GAP_MARKER_LABEL, Gap
from stream.settings import KafkaSettings
from vagus.config import VagusConfig
from vagus.gateway import Gateway

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
DEVICE = "d-abcdefgh"


def _gateway(tmp_path: Path) -> Gateway:
    # Never started: handling a marker needs no broker.
    return Gateway(
        kafka=KafkaSettings().with_bootstrap("127.0.0.1:9"),
        config=VagusConfig(),
        patient_id="p-7k3m9q2x4v8w",
        devices={DEVICE: "polar-h10"},
        clock=WallClock(),
        output_device=SimulatedDevice(),
        lockstep=False,
        state_dir=tmp_path,
    )


async def test_a_gap_marker_is_handed_to_the_pipeline(tmp_path: Path) -> None:
    gateway = _gateway(tmp_path)
    try:
        gap = Gap(DEVICE, "ecg", T0 + 10 * NS, T0 + 25 * NS, "disconnected")
        await gateway.handle(gap.marker(T0 + 25 * NS))
        gaps = gateway.pipeline.engine.gaps
        assert list(gaps) == ["ecg"]
        assert gaps["ecg"].overlap_ns(T0, T0 + 60 * NS) == 15 * NS
        assert gateway.stats.bad_gap_markers == 0
    finally:
        await gateway.stop()


@pytest.mark.parametrize(
    "detail",
    [
        "not json",
        '{"device_id": "d-abcdefgh", "stream": "ecg"}',
        '{"device_id": "d-abcdefgh", "stream": "ecg", "start_ns": 5, "end_ns": 5, '
        '"reason": "disconnected"}',
    ],
)
async def test_an_unreadable_gap_marker_is_counted_and_logged_not_fatal(
    tmp_path: Path, detail: str, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = _gateway(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="vagus.gateway"):
            await gateway.handle(Marker(T0, GAP_MARKER_LABEL, detail))
    finally:
        await gateway.stop()
    assert gateway.stats.bad_gap_markers == 1
    assert "unreadable gap marker" in caplog.text
    assert gateway.stats.markers  # the marker itself is still kept
