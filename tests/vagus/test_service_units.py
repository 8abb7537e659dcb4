"""The systemd units in deploy/systemd: accepted by `systemd-analyze verify`, and holding the
properties docs/pi.md promises (notify with a watchdog, restart, no root, private state)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
INSTALLED_BIN = "/opt/vagus/venv/bin"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_there_is_a_unit_for_the_gateway_and_the_worker() -> None:
    assert {u.name for u in UNITS} == {"vagus-gateway.service", "vagus-closedloop.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_accepts_the_unit_as_shipped(unit: Path) -> None:
    """The file in the repository, unchanged: its command is `/usr/bin/env vagus` with the
    installed venv first on the unit's own PATH, so verify finds it on any machine."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    # verify exits 0 on a directive it ignores, but says so: anything it says is a finding
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_the_unit_runs_the_installed_vagus(unit: Path) -> None:
    service = _unit(unit)["Service"]
    assert service["ExecStart"].startswith("/usr/bin/env vagus ")
    lines = unit.read_text().splitlines()  # several Environment= lines: the parser keeps one
    assert any(line.startswith(f"Environment=PATH={INSTALLED_BIN}:") for line in lines)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_the_unit_runs_supervised_unprivileged_and_private(unit: Path) -> None:
    service = _unit(unit)["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"].rstrip("s")) > 0
    assert service["Restart"] == "on-failure"
    assert service["User"] not in {"", "root"}
    assert service["CapabilityBoundingSet"] == ""
    assert service["NoNewPrivileges"] == "yes"
    assert service["UMask"] == "0077"
    assert service["StateDirectoryMode"] == "0700"
    assert service["LoadCredential"].startswith("kafka-sasl-password:")
    assert "ExecStart" in service and "--config /etc/vagus/" in service["ExecStart"]


def test_only_the_gateway_reaches_bluetooth() -> None:
    groups = {u.name: _unit(u)["Service"].get("SupplementaryGroups", "") for u in UNITS}
    assert "bluetooth" in groups["vagus-gateway.service"].split()
    assert "bluetooth" not in groups["vagus-closedloop.service"].split()
