"""The live commands end to end against the virtual wearables (``--backend virtual``): the real
command line, the real bleak client, bumble sensors in the same process."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import msgspec
import pytest

from ingest.recording import DeviceRecord, Marker, NotificationRecord, RecordingReader
from stream.ids import DEVICE_ID_PATTERN
from tests.helpers import run_vagus
from vagus.dry_run import dry_run

pytest.importorskip("bumble", reason="the virtual backend needs the optional bumble dependency")

ADDRESS = re.compile(r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}")


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "vagus.toml"
    path.write_text(f'[live]\nstate_dir = "{tmp_path / "state"}"\n')
    return path


def test_devices_scan_json_lists_the_virtual_wearables(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = run_vagus("--config", str(config), "devices", "scan", "--seconds", "1", "--json",
                     "--backend", "virtual")  # fmt: skip
    assert done.returncode == 0, done.stderr
    devices = json.loads(done.stdout)["devices"]
    assert sorted(d["profile"] for d in devices) == [
        "heart-rate",
        "polar-h10",
        "sample-stream:vagus-eda-v1",
        "sample-stream:vagus-motion-v1",
    ]
    assert all(re.fullmatch(DEVICE_ID_PATTERN, d["device_id"]) for d in devices)
    assert all(isinstance(d["rssi"], int) for d in devices)
    assert not ADDRESS.search(done.stdout + done.stderr), "addresses only with --show-addresses"
    assert (tmp_path / "state" / "device-id.key").stat().st_mode & 0o777 == 0o600

    again = run_vagus("--config", str(config), "devices", "scan", "--seconds", "1", "--json",
                      "--backend", "virtual", "--show-addresses", "--min-rssi", "-40")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["devices"] == [], "the RSSI floor (-40 dBm) leaves all out"


def test_record_writes_every_device_and_replays_without_errors(tmp_path: Path) -> None:
    config, output = _config(tmp_path), tmp_path / "live.vrec"
    done = run_vagus("--config", str(config), "record", "--seconds", "3", "-o", str(output),
                     "--json", "--backend", "virtual")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {d["profile"] for d in summary["devices"]} == {
        "heart-rate",
        "polar-h10",
        "sample-stream:vagus-eda-v1",
        "sample-stream:vagus-motion-v1",
    }
    h10 = next(d for d in summary["devices"] if d["profile"] == "polar-h10")
    assert (h10["manufacturer"], h10["model"], h10["battery_percent"]) == (
        "Polar Electro Oy",
        "H10",
        87,
    )

    from ingest.virtual.world import EDA_NAME, H10_NAME, HR_NAME, WRIST_NAME  # needs bumble

    report = dry_run(output)
    assert report["decode_errors"] == {}
    assert report["file"]["clean_end"]
    streams = {s["stream"]: s for s in report["streams"]}
    assert set(streams) >= {"ecg", "hr", "rr", "eda"}
    assert streams["ecg"]["samples"] >= 2 * 73
    assert 125 <= streams["ecg"]["measured_rate_hz"] <= 135

    records = list(RecordingReader(output))
    assert sum(isinstance(r, DeviceRecord) for r in records) == 4
    assert all(isinstance(r, NotificationRecord | DeviceRecord | Marker) for r in records[:-1])
    text = b"".join(msgspec.json.encode(r) for r in records).decode()
    text += output.read_bytes().decode("latin-1")
    for secret in (HR_NAME, H10_NAME, EDA_NAME, WRIST_NAME):
        assert secret not in text, "advertised names (serial numbers) stay on the gateway"
    assert not ADDRESS.search(text), "no address in the recording"


def test_devices_status_reads_battery_and_device_information(tmp_path: Path) -> None:
    done = run_vagus("--config", str(_config(tmp_path)), "devices", "status", "--json",
                     "--seconds", "60", "--backend", "virtual")  # fmt: skip
    assert done.returncode == 0, done.stderr
    devices = {d["profile"]: d for d in json.loads(done.stdout)["devices"]}
    strap = devices["heart-rate"]
    assert (strap["battery_percent"], strap["manufacturer"], strap["model"]) == (
        71,
        "vagus",
        "virtual-hr",
    )
    assert devices["polar-h10"]["model"] == "H10"
    eda = devices["sample-stream:vagus-eda-v1"]
    assert eda["info_read"] and eda["battery_percent"] is None, "no Battery Service: none shown"
    assert all(re.fullmatch(DEVICE_ID_PATTERN, d["device_id"]) for d in devices.values())
    assert not ADDRESS.search(done.stdout + done.stderr)


def test_a_heart_rate_service_strap_alone_gives_the_windows_heart_numbers(tmp_path: Path) -> None:
    """A patient with a plain chest strap and no ECG stream: its RR intervals, sent over real
    GATT (bumble) to the real bleak client, recorded and replayed through the gateway's signal
    path, give each window a heart rate and HRV from the strap's intervals."""
    from ingest.virtual.world import HR_NAME  # needs bumble

    config = tmp_path / "vagus.toml"
    config.write_text(
        f'[live]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[[devices]]\nprofile = "heart-rate"\nname_prefix = "{HR_NAME}"\nlabel = "strap"\n\n'
        "[windows]\nwindow_s = 10.0\nhop_s = 5.0\n"
    )
    recording, table = tmp_path / "strap.vrec", tmp_path / "windows.csv"
    done = run_vagus("--config", str(config), "record", "--seconds", "24", "-o", str(recording),
                     "--json", "--backend", "virtual")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [d["profile"] for d in json.loads(done.stdout)["devices"]] == ["heart-rate"]
    done = run_vagus("--config", str(config), "analyze", str(recording), "-o", str(table))
    assert done.returncode == 0, done.stderr
    with table.open(newline="") as file:
        rows = list(csv.DictReader(file))
    hearty = [r for r in rows if r["heart_rate_bpm"]]
    assert len(hearty) >= 2, rows
    for row in hearty:  # the virtual strap beats at about 70 bpm (870/1024 s +/- 40)
        assert 60.0 <= float(row["heart_rate_bpm"]) <= 82.0
        assert 650.0 <= float(row["mean_nn_ms"]) <= 1000.0 and float(row["rmssd_ms"]) > 0.0
        assert float(row["rr_artifact_fraction"]) <= 0.2
