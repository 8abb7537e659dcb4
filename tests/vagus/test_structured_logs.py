"""Structured log lines: one JSON object per line off a terminal, with the patient's pseudonym,
the device's id and an event name as fields, and never a Bluetooth address."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.transport.identity import ADDRESS_PATTERN
from vagus.structured_logs import JsonLines, PatientField, set_log_patient, use_json

ROOT = Path(__file__).resolve().parents[2]


def _line(record: logging.LogRecord) -> dict[str, object]:
    PatientField().filter(record)
    parsed: dict[str, object] = json.loads(JsonLines().format(record))
    return parsed


def test_a_line_carries_the_patient_device_and_event_as_fields() -> None:
    set_log_patient("p-7k3m9q2x4v8w")
    try:
        record = logging.LogRecord("ingest.x", logging.WARNING, __file__, 1, "%s: link lost",
                                   ("d-yk831pkz",), None)  # fmt: skip
        record.device, record.event = "d-yk831pkz", "link_lost"
        line = _line(record)
    finally:
        set_log_patient(None)
    assert line["message"] == "d-yk831pkz: link lost"
    assert (line["patient"], line["device"], line["event"]) == (
        "p-7k3m9q2x4v8w", "d-yk831pkz", "link_lost"
    )  # fmt: skip
    assert line["level"] == "WARNING" and str(line["time"]).endswith("+00:00")


def test_an_exception_is_kept_as_text_in_one_line() -> None:
    try:
        raise ValueError("bad frame")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = JsonLines().format(record)
    assert "\n" not in text
    assert "ValueError: bad frame" in str(json.loads(text)["exception"])


def test_json_off_a_terminal_unless_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAGUS_LOG_FORMAT", raising=False)
    assert use_json(io.StringIO())
    monkeypatch.setenv("VAGUS_LOG_FORMAT", "text")
    assert not use_json(io.StringIO())
    monkeypatch.setenv("VAGUS_LOG_FORMAT", "json")
    assert use_json(io.StringIO())


@pytest.mark.slow
def test_the_gateway_logs_json_lines_with_pseudonyms_only(tmp_path: Path) -> None:
    config = tmp_path / "vagus.toml"
    config.write_text(f'[live]\nstate_dir = "{tmp_path / "state"}"\nbackend = "virtual"\n')
    env = {k: v for k, v in os.environ.items() if k != "VAGUS_LOG_FORMAT"}
    done = subprocess.run(
        [sys.executable, "-m", "vagus", "-v", "--config", str(config), "gateway", "--seconds",
         "6", "--json"],
        capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines, "no log lines with -v"
    patient = json.loads(done.stdout.strip().splitlines()[-1])["patient_id"]
    after_start = lines[next(i for i, x in enumerate(lines) if x.get("patient")) :]
    assert all(line.get("patient") == patient for line in after_start)
    streaming = [line for line in lines if line.get("event") == "streaming"]
    assert len(streaming) == 4  # strap, ECG strap, EDA sensor, wrist accelerometer
    assert all(str(line["device"]).startswith("d-") for line in streaming)
    assert not ADDRESS_PATTERN.search(done.stderr)
