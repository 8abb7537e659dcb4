"""The demo path end to end, as a user runs it: the real CLI, broker, faust worker and device;
on each broker the demo starts for itself (the embedded one, and Apache Kafka with --kafka)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
VAGUS = [sys.executable, "-m", "vagus"]


def _children(pid: int) -> set[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return {int(child) for child in result.stdout.split()}


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def _run_watching_children(
    args: list[str], *, interrupt_after_s: float | None = None
) -> tuple[subprocess.Popen[str], set[int], str, str]:
    """Run the CLI, note every child it starts (broker, worker), optionally press Ctrl-C."""
    process = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    children: set[int] = set()
    started = time.monotonic()
    interrupted = False
    while process.poll() is None and time.monotonic() - started < 300:
        children |= _children(process.pid)
        due = interrupt_after_s is not None and time.monotonic() - started >= interrupt_after_s
        if due and not interrupted and len(children) >= 2:
            os.kill(process.pid, signal.SIGINT)
            interrupted = True
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=60)
    return process, children, stdout, stderr


def test_demo_at_max_speed(tmp_path: Path, broker_args: list[str]) -> None:
    summary_path = tmp_path / "summary.json"
    process, children, _, stderr = _run_watching_children(
        [
            *VAGUS,
            "demo",
            *broker_args,
            "--speed",
            "max",
            "--summary-json",
            str(summary_path),
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    assert process.returncode == 0, stderr[-2000:]
    summary = json.loads(summary_path.read_text())
    if broker_args:
        assert summary["broker"].startswith("Apache Kafka "), summary["broker"]
    else:
        assert summary["broker"] == "embedded"
    assert summary["windows"] >= 100
    assert summary["stress_episodes"] >= 1
    assert summary["sessions_started"] >= 1
    assert summary["sessions_completed"] >= 1
    assert summary["sessions_in_baseline"] == 0
    assert summary["sessions_by_phase"].get("stress", 0) >= 1
    assert summary["events_lost"] == 0
    assert summary["duplicates_after_dedupe"] == 0
    assert summary["decode_errors"] == 0
    assert summary["events_consumed"] == summary["events_produced"] > 200
    assert summary["latency_ms"]["n"] >= 1
    assert summary["latency_ms"]["p50"] > 0
    assert summary["lockstep_timeouts"] == 0
    assert len(children) >= 2  # the broker and the closed-loop worker
    assert _alive(children) == set()
    assert summary["pacer"]["breaths_per_min"] == pytest.approx(6.0)
    (wav,) = summary["vibroacoustic_files"]
    carrier_hz, modulation_hz = _carrier_and_modulation(Path(wav))
    assert carrier_hz == pytest.approx(40.0, abs=0.1)
    assert modulation_hz == pytest.approx(6.0 / 60.0, abs=0.005)  # the breathing rate


def _carrier_and_modulation(path: Path) -> tuple[float, float]:
    """The WAV's dominant frequency, and the dominant frequency of its loudness envelope."""
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        signal = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2") / 32767.0
    spectrum = np.abs(np.fft.rfft(signal))
    carrier = float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])
    block = rate // 4
    usable = len(signal) // block * block
    envelope = np.sqrt(np.mean(signal[:usable].reshape(-1, block) ** 2, axis=1))
    envelope_spectrum = np.abs(np.fft.rfft(envelope - envelope.mean()))
    frequencies = np.fft.rfftfreq(len(envelope), 0.25)
    band = frequencies > 0.02  # above the session's slow fade in and out
    modulation = float(frequencies[band][np.argmax(envelope_spectrum[band])])
    return carrier, modulation


def test_ctrl_c_mid_demo_leaves_nothing_running(broker_args: list[str]) -> None:
    process, children, _, stderr = _run_watching_children(
        [*VAGUS, "demo", *broker_args, "--speed", "20x"], interrupt_after_s=6.0
    )
    assert len(children) >= 2, "the demo never started its broker and worker"
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr
    assert _alive(children) == set()
