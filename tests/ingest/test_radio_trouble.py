"""The gateway's own Bluetooth faults are named as such, and the gateway keeps trying
(ingest.transport.radio_trouble)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)

from ingest.transport.radio_trouble import radio_trouble

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (BleakBluetoothNotAvailableError("x", BleakBluetoothNotAvailableReason.NO_BLUETOOTH),
         "no Bluetooth adapter"),
        (BleakBluetoothNotAvailableError("x", BleakBluetoothNotAvailableReason.POWERED_OFF),
         "powered off"),
        (BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", []),
         "bluetoothd is not running"),
        (FileNotFoundError(2, "No such file or directory"), "no system D-Bus"),
    ],
)  # fmt: skip
def test_radio_faults_are_named(error: BaseException, says: str) -> None:
    trouble = radio_trouble(error)
    assert trouble is not None and says in trouble


@pytest.mark.parametrize(
    "error",
    [
        BleakError("Device with address XX was not found"),
        TimeoutError(),
        FileNotFoundError(2, "No such file or directory", "/var/lib/vagus/cache.json"),
    ],
)
def test_a_sensor_fault_or_another_file_is_not_blamed_on_the_radio(error: BaseException) -> None:
    assert radio_trouble(error) is None


def test_the_gateway_without_bluez_keeps_running_and_says_why(tmp_path: Path) -> None:
    """bleak's real BlueZ backend, its system bus pointed at a socket that is not there: the
    gateway runs to its end, retrying, with the radio fault in its log and its status."""
    config = tmp_path / "vagus.toml"
    config.write_text(
        f'[live]\nstate_dir = "{tmp_path / "state"}"\npatient_id = "p-7k3m9q2x4v8w"\n'
        'reconnect_cap_s = 1\n[[devices]]\nprofile = "polar-h10"\nname_prefix = "Polar H10"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "vagus", "--config", str(config), "gateway", "--seconds", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "VAGUS_LOG_FORMAT": "json",
             "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    radio = [line for line in lines if line.get("event") == "radio_unavailable"]
    assert len(radio) >= 2, "one attempt and at least one retry"
    assert all("no system D-Bus" in line["message"] for line in radio)
    summary = json.loads(done.stdout)
    [device] = summary["devices"]
    assert "no system D-Bus" in device["last_error"]
