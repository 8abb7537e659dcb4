"""Device kinds and their registry: one class per kind, named in one place.

The registry finds the built-in kinds; no module outside ``ingest/devices`` switches on a kind's
name (read from every module's AST, so a new string switch anywhere fails here); and a kind's
start-up is testable without bleak, over a few-line :class:`~ingest.devices.GattLink`.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.devices import (
    Advertisement,
    DeviceKind,
    GattTargets,
    Recognition,
    StartupError,
    UnknownDeviceError,
    device_kind,
    device_kinds,
    match_advertisement,
    register,
    scan_service_uuids,
)
from ingest.devices.heart_rate import HeartRateDevice
from ingest.devices.polar_h10 import PolarH10Device
from ingest.devices.sample_stream import SAMPLE_STREAM_PREFIX, SampleStreamDevice
from ingest.profiles.heart_rate import HEART_RATE_SERVICE_UUID
from ingest.profiles.pmd_control import (
    MeasurementType,
    encode_get_settings,
    encode_start_measurement,
)
from ingest.profiles.polar_pmd import PMD_CONTROL_POINT_UUID
from ingest.profiles.polar_time import PSFTP_MTU_UUID, decode_set_local_time
from tests.pmd_link import FakeLink

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("dsp", "ingest", "stream", "closedloop", "hardware", "vagus", "bench", "scripts")
DEVICES = ROOT / "ingest" / "devices"
EDA = "sample-stream:vagus-eda-v1"


def test_the_registry_finds_every_built_in_kind() -> None:
    assert [k.name for k in device_kinds()] == [
        "heart-rate",
        "polar-h10",
        "polar-optical",
        EDA,
        "sample-stream:vagus-motion-v1",
    ]
    assert isinstance(device_kind("polar-h10"), PolarH10Device)
    eda = device_kind(EDA)
    assert isinstance(eda, SampleStreamDevice)
    assert eda.layout.name == "vagus-eda-v1"
    assert set(scan_service_uuids()) == {u for k in device_kinds() for u in k.gatt.services}


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownDeviceError, match=r"'garmin-magic' \(known: heart-rate, polar"):
        device_kind("garmin-magic")
    with pytest.raises(UnknownDeviceError):
        device_kind("sample-stream:nope")


def test_two_kinds_cannot_share_a_name() -> None:
    with pytest.raises(Exception, match="two device kinds are named 'heart-rate'"):
        register(HeartRateDevice())


def test_the_most_specific_recognition_wins() -> None:
    def kind_of(name: str, *uuids: str) -> str | None:
        kind = match_advertisement(Advertisement(frozenset(uuids), name))
        return None if kind is None else kind.name

    assert kind_of("Polar H10 1A2B3C4D", HEART_RATE_SERVICE_UUID) == "polar-h10"
    assert kind_of("Polar H9 1A2B3C4D", HEART_RATE_SERVICE_UUID) == "heart-rate"
    assert HeartRateDevice().recognises(Advertisement(frozenset())) is Recognition.NO


def _name_literals(path: Path, names: set[str], root: Path = ROOT) -> list[str]:
    """String constants in ``path`` that name a kind (docstrings aside)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and (node.value in names or node.value.startswith(SAMPLE_STREAM_PREFIX))
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    return found


def test_no_module_outside_the_device_kinds_names_one() -> None:
    """Kinds are looked up in the registry, never switched on by name: a name may be written
    only by its kind's module (tests and documentation aside)."""
    names = {k.name for k in device_kinds()}
    offenders = [
        hit
        for top in CHECKED
        for path in sorted((ROOT / top).rglob("*.py"))
        if not path.is_relative_to(DEVICES)
        for hit in _name_literals(path, names)
    ]
    assert not offenders, "kind names outside ingest/devices:\n" + "\n".join(offenders)


def test_the_name_check_sees_a_string_switch(tmp_path: Path) -> None:
    switch = tmp_path / "switch.py"
    switch.write_text(
        '"""Docstrings may say polar-h10."""\n'
        'def f(p):\n    return p == "polar-h10" or p.startswith(f"sample-stream:{p}")\n'
    )
    hits = _name_literals(switch, {"polar-h10"}, root=tmp_path)
    assert hits == ["switch.py:3: 'polar-h10'", "switch.py:3: 'sample-stream:'"]


async def test_the_h10_start_up_sets_the_clock_then_starts_ecg() -> None:
    link = FakeLink()
    now = datetime(2026, 3, 10, 14, 0, 0, tzinfo=UTC)
    await PolarH10Device().start(link, int(now.timestamp() * 1e9))
    (clock_uuid, clock), *control = link.writes
    assert clock_uuid == PSFTP_MTU_UUID
    assert decode_set_local_time(clock).moment == now
    assert control == [
        (PMD_CONTROL_POINT_UUID, encode_get_settings(MeasurementType.ECG)),
        (PMD_CONTROL_POINT_UUID, encode_start_measurement(MeasurementType.ECG, {0: 130, 1: 14})),
    ]


async def test_the_h10_start_up_without_ps_ftp_leaves_the_clock() -> None:
    link = FakeLink(psftp=False)
    await PolarH10Device().start(link, 0)
    assert [uuid for uuid, _ in link.writes] == [PMD_CONTROL_POINT_UUID] * 2


async def test_a_refused_start_up_raises() -> None:
    with pytest.raises(StartupError, match="read ECG settings: the sensor answered"):
        await PolarH10Device().start(FakeLink(status=5), 0)


def test_every_built_in_kind_is_a_device_kind() -> None:
    kinds: list[DeviceKind] = [HeartRateDevice(), PolarH10Device(), device_kind(EDA)]
    for kind in kinds:
        assert isinstance(kind.gatt, GattTargets)
        assert set(kind.gatt.data).isdisjoint(kind.gatt.control)
        assert kind.recognises(Advertisement(frozenset(kind.gatt.services[:1]))) > Recognition.NO
