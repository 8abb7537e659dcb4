"""Health data at rest is owner-only (files 0600, folders 0700) even under a permissive umask."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.audio import WavVibroacousticDevice
from ingest.private_files import open_private, private_dir
from ingest.recording import RecordingHeader, RecordingWriter
from ingest.transport.identity import SECRET_FILE, load_or_create_secret
from stream.broker import free_loopback_port
from stream.events import SessionParameters
from stream.settings import KafkaSettings
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from tests.hardware.test_interlock import FakeClock
from tests.helpers import stream_gap
from vagus.config import StressModelSettings
from vagus.pipeline import baseline_state_path
from vagus.scoring import StressScorer
from vagus.state_paths import StatePaths

PATIENT = "p-7k3m9q2x4v8w"


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The default of most distributions: without care, files come out 0644, folders 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_tree(root: Path) -> list[Path]:
    """Every file under ``root`` 0600 and every folder 0700 (``root`` included)."""
    entries = [root, *root.rglob("*")]
    for entry in entries:
        if entry.is_socket():
            continue
        expected = 0o700 if entry.is_dir() else 0o600
        assert mode(entry) == expected, f"{entry.relative_to(root.parent)}: {oct(mode(entry))}"
    return entries


async def test_gateway_state_is_private(tmp_path: Path) -> None:
    """Spool folder, segments, cursor, lock and losses, the status file, the device-id key and
    the patient's stress baseline: everything the gateway keeps in its state folder."""
    paths = StatePaths.under(tmp_path / "state")
    settings = KafkaSettings(bootstrap=f"127.0.0.1:{free_loopback_port()}")
    producer = SpoolingProducer(
        settings,
        producer_id="private-test",
        spool=Spool(paths.spool_dir, SpoolSettings(fsync="never", max_events=5)),
        status_path=paths.status_file,
        request_timeout_ms=300,
        retry_interval_s=0.1,
    )
    await producer.start()  # nobody listens: every event stays spooled
    for second in range(8):  # more than max_events: an eviction writes the losses file
        await producer.send(stream_gap(second, producer_id="private-test"))
    await producer.flush()
    producer.spool.ack(producer.spool.peek(1)[0].seq)  # a cursor file too
    await producer.stop(drain_timeout_s=0.2)
    load_or_create_secret(paths.state_dir)
    scorer = StressScorer(
        settings=StressModelSettings(), state_path=baseline_state_path(paths.state_dir, PATIENT)
    )
    scorer.save()

    names = {p.name for p in assert_private_tree(paths.state_dir)}
    expected = {"spool", "lock", "cursor", "losses.json", "gateway-status.json", SECRET_FILE}
    assert expected | {f"stress-{PATIENT}.json"} <= names
    assert any(name.endswith(".seg") for name in names)


def test_a_state_folder_left_open_is_tightened(tmp_path: Path) -> None:
    """State written by an older version (0755 folders, 0644 files) is closed on next use."""
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "spool").mkdir(mode=0o755)
    status = state / "gateway-status.json"
    status.write_text("{}")
    status.chmod(0o644)
    load_or_create_secret(state)  # what the gateway does first
    Spool(state / "spool").close()
    with open_private(status, "wb") as handle:
        handle.write(b"{}\n")
    assert (mode(state), mode(state / "spool"), mode(status)) == (0o700, 0o700, 0o600)
    private_dir(tmp_path / "mine", tighten=False)
    assert mode(tmp_path / "mine") == 0o700  # made here: private even without tightening


def test_recordings_are_private(tmp_path: Path) -> None:
    header = RecordingHeader(patient_id=PATIENT, start_time_ns=time.time_ns(), devices=[])
    path = tmp_path / "night.vrec"
    with RecordingWriter(path, header) as writer:
        writer.write_marker(1, "test")
    assert mode(path) == 0o600


async def test_session_audio_is_private(tmp_path: Path) -> None:
    device = WavVibroacousticDevice(tmp_path / "sessions", sample_rate_hz=8000)
    parameters = SessionParameters(duration_s=20.0, breaths_per_min=6.0, intensity=0.5)
    report = await device.render(parameters, FakeClock(), asyncio.Event())
    assert report.completed
    assert_private_tree(tmp_path / "sessions")
    assert [p.name for p in (tmp_path / "sessions").iterdir()] == ["session-1.wav"]
