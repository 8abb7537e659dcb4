"""Kafka unreachable at start: the gateway runs, spools and delivers on the next start; `vagus
doctor` and `vagus record` say so without a traceback. All through the real command line."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stream.broker import free_loopback_port
from stream.codec import decode_event
from stream.settings import KafkaSettings
from stream.spool import Spool
from tests.helpers import read_events, run_vagus
from vagus.state_paths import StatePaths

PATIENT = "p-7k3m9q2x4v8w"
# Short windows, so the first ones close (and events spool) within a short run.
WINDOWS = "[windows]\nwindow_s = 10\nhop_s = 5\ncalibration_s = 10\n"


def _config(tmp_path: Path, kafka: str = "") -> Path:
    path = tmp_path / "g.toml"
    path.write_text(
        f"{WINDOWS}{kafka}[live]\n"
        f'state_dir = "{tmp_path / "state"}"\nbackend = "virtual"\npatient_id = "{PATIENT}"\n'
    )
    return path


def _gateway(config: Path, bootstrap: str, seconds: float) -> tuple[dict[str, Any], str]:
    done = run_vagus(
        "--config", str(config), "gateway", "--bootstrap", bootstrap,
        "--seconds", str(seconds), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _spooled(spool_dir: Path) -> dict[str, str]:
    """Event id -> topic of what waits in the spool."""
    spool = Spool(spool_dir)
    try:
        events = spool.peek(len(spool))
    finally:
        spool.close()
    return {decode_event(e.payload).event_id: e.topic for e in events}


@pytest.mark.broker
def test_gateway_spools_with_kafka_down_and_delivers_on_the_next_start(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    dead = f"127.0.0.1:{free_loopback_port()}"
    prefix = f"t{uuid.uuid4().hex[:10]}"  # this test's own topics on the shared broker
    config = _config(tmp_path, f'[kafka]\ntopic_prefix = "{prefix}"\n\n')
    summary, stderr = _gateway(config, dead, 25)
    # It ran to the end, read the sensors and kept every event on disk.
    assert summary["notifications"] > 0 and summary["windows"] > 0
    assert summary["spooled"] > 0
    spooled = _spooled(StatePaths.under(tmp_path / "state").spool_dir)
    assert len(spooled) == summary["spooled"]
    # One warning per component when the broker is first found unreachable, not one per retry.
    assert stderr.count("broker unreachable") == 2, stderr
    assert "Unable connect to" not in stderr  # aiokafka's per-attempt errors name the address
    for entry in [tmp_path / "state", *(tmp_path / "state").rglob("*")]:
        if not entry.is_socket():
            assert stat.S_IMODE(entry.stat().st_mode) == (0o700 if entry.is_dir() else 0o600)

    # Next start with a broker: the topics are created and the spool drains into them.
    again, _ = _gateway(config, kafka_bootstrap, 6)
    assert again["spooled"] == 0
    settings = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=prefix)
    delivered: set[str] = set()
    for topic, wanted in Counter(spooled.values()).items():
        events = asyncio.run(read_events(settings, topic, wanted))
        delivered |= {e.event_id for e in events}
    assert set(spooled) <= delivered


def test_doctor_reports_an_unreachable_broker_without_a_traceback(tmp_path: Path) -> None:
    done = run_vagus(
        "--config", str(_config(tmp_path)), "doctor",
        "--bootstrap", f"127.0.0.1:{free_loopback_port()}", "--timeout", "2",
    )  # fmt: skip
    assert done.returncode == 1  # documented: 1 when anything needs attention
    assert "broker:   UNREACHABLE" in done.stdout and "broker unreachable" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_record_needs_no_broker(tmp_path: Path) -> None:
    dead = f'[kafka]\nbootstrap = "127.0.0.1:{free_loopback_port()}"\n\n'
    output = tmp_path / "night.vrec"
    done = run_vagus(
        "--config", str(_config(tmp_path, dead)), "record", "--seconds", "3",
        "-o", str(output), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["records"] > 0
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # a patient's raw signals
