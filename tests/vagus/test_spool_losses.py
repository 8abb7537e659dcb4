"""Spool losses survive restarts and stay a `vagus doctor` problem until `--ack`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from stream.spool import Spool, SpoolSettings
from stream.spool_segments import open_losses
from vagus.cli import main
from vagus.state_paths import StatePaths


def _fill(spool_dir: Path, events: int) -> int:
    """Append ``events`` to a spool holding at most 5; returns how many it evicted."""
    spool = Spool(spool_dir, SpoolSettings(fsync="never", max_events=5, segment_bytes=4096))
    try:
        for index in range(events):
            spool.append(topic="t", key=b"k", payload=b"x" * 1000 + bytes([index % 256]))
        return spool.stats.evicted
    finally:
        spool.close()


def _doctor(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    main(["--config", str(config), "doctor", "--json", *extra])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "vagus.toml"
    path.write_text(f'[live]\nstate_dir = "{tmp_path / "state"}"\n')
    return path


def test_eviction_count_survives_a_restart(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    evicted = _fill(spool_dir, 12)
    assert evicted > 0
    reopened = Spool(spool_dir)
    try:
        assert reopened.stats.evicted == 0  # since open, as before
        assert reopened.losses.evicted == evicted  # since the folder was made
        assert reopened.losses.first_loss_ns is not None
    finally:
        reopened.close()
    assert open_losses(spool_dir).evicted == evicted


def test_doctor_keeps_the_loss_until_acknowledged(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool_dir = StatePaths.under(tmp_path / "state").spool_dir
    evicted = _fill(spool_dir, 12)
    Spool(spool_dir).close()  # a restart in between
    report = _doctor(config, capsys)
    assert report["spool"]["lost"]["evicted"] == evicted
    loss = [p for p in report["problems"] if "evicted since" in p]
    assert loss == [
        f"{evicted} events evicted since {report['spool']['lost']['since']} (spool was full);"
        " acknowledge with vagus doctor --ack"
    ]
    assert not report["ok"]

    with caplog.at_level(logging.WARNING, logger="vagus.commands.doctor"):
        acknowledged = _doctor(config, capsys, "--ack")
    lost = acknowledged["spool"]["lost"]
    assert (lost["evicted"], lost["torn_tails"]) == (0, 0)
    assert not [p for p in acknowledged["problems"] if "evicted" in p]
    line = caplog.records[-1].getMessage()
    assert "acknowledged by" in line and f"{evicted} evicted events" in line
    assert "p-" not in line  # who and when, never whose data

    later = _fill(spool_dir, 12)  # new losses after the acknowledgement count from zero
    assert _doctor(config, capsys)["spool"]["lost"]["evicted"] == later
