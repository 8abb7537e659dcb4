"""`vagus import edf`: EDF+ files written by pyedflib (an independent writer, synthetic signals;
no real EDF file is shared) replay to the writer's digital values, physical map and annotations."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ingest.errors import RecordingError
from ingest.importers.edf import import_edf
from ingest.recording import Marker, RecordingReader
from tests.ingest.test_import_wfdb import replayed
from vagus.cli import main

pyedflib = pytest.importorskip("pyedflib", reason="pyedflib (dev extra) writes the test files")

START = datetime(2026, 3, 10, 12, 0, 0)
START_NS = 1_773_144_000 * 10**9


def _write(path: Path, *, plus: bool = True, seconds: int = 10) -> dict[str, npt.NDArray[np.int64]]:
    rng = np.random.default_rng(3)
    digital = {
        "ECG I": rng.integers(-30000, 30000, size=256 * seconds),
        "EDA wrist": rng.integers(0, 4000, size=4 * seconds),
        "Resp": rng.integers(-2000, 2000, size=32 * seconds),
    }
    headers = [
        {"label": "ECG I", "dimension": "mV", "sample_frequency": 256, "physical_max": 5.0,
         "physical_min": -5.0, "digital_max": 32767, "digital_min": -32768},
        {"label": "EDA wrist", "dimension": "uS", "sample_frequency": 4, "physical_max": 40.0,
         "physical_min": 0.0, "digital_max": 4000, "digital_min": 0},
        {"label": "Resp", "dimension": "au", "sample_frequency": 32, "physical_max": 1.0,
         "physical_min": -1.0, "digital_max": 2047, "digital_min": -2048},
    ]  # fmt: skip
    file_type = pyedflib.FILETYPE_EDFPLUS if plus else pyedflib.FILETYPE_EDF
    writer = pyedflib.EdfWriter(str(path), len(headers), file_type=file_type)
    writer.setSignalHeaders(headers)
    writer.setStartdatetime(START)
    if plus:
        writer.writeAnnotation(2.5, -1, "task start")
        writer.writeAnnotation(7.25, 1.5, "button")
    writer.writeSamples(
        [digital[h["label"]].astype(np.int32) for h in headers],  # type: ignore[index]
        digital=True,
    )
    writer.close()
    return digital


def test_edf_plus_replays_to_the_writers_values(tmp_path: Path) -> None:
    digital = _write(tmp_path / "a.edf")
    out = tmp_path / "rec"
    summary = import_edf(tmp_path / "a.edf", out)
    assert summary["signals"] == ["ECG I", "EDA wrist", "Resp"]
    streams, markers = replayed(out)
    ecg_times, ecg_uv = streams["ECG I"]
    ecg_scale_uv = 10.0 / 65535 * 1000  # (pmax - pmin) / (dmax - dmin), mV to µV
    np.testing.assert_allclose(
        ecg_uv, (digital["ECG I"] + 32768) * ecg_scale_uv - 5000.0, rtol=0, atol=1e-9
    )
    assert ecg_times[0] == START_NS and np.diff(ecg_times).max() <= 3_906_250
    np.testing.assert_allclose(streams["EDA wrist"][1], digital["EDA wrist"] * 0.01, atol=1e-12)
    np.testing.assert_allclose(
        streams["Resp"][1], (digital["Resp"] + 2048) * (2 / 4095) - 1.0, atol=1e-12
    )
    assert [(m.gateway_time_ns - START_NS, m.label, m.detail) for m in markers] == [
        (2_500_000_000, "edf:task start", ""),
        (7_250_000_000, "edf:button", "duration 1.5000 s"),  # the text as written,
    ]
    kinds = {d.label: d.stream_profile for d in RecordingReader(out).header.devices}
    assert 'signal = "ecg"' in str(kinds["ECG I"]) and 'units = "uV"' in str(kinds["ECG I"])
    assert 'signal = "eda"' in str(kinds["EDA wrist"])


def test_plain_edf_without_annotations(tmp_path: Path) -> None:
    digital = _write(tmp_path / "a.edf", plus=False)
    out = tmp_path / "rec"
    import_edf(tmp_path / "a.edf", out)
    streams, markers = replayed(out)
    assert markers == [] and len(streams["ECG I"][1]) == len(digital["ECG I"])


def test_discontinuous_records_keep_their_onsets(tmp_path: Path) -> None:
    """EDF+D written by hand from the specification: record 2 starts 5 s after record 1."""
    header = bytearray(b" " * 768)
    tal_bytes = 24

    def put(offset: int, text: str, width: int) -> None:
        header[offset : offset + width] = text.ljust(width).encode()

    put(0, "0", 8)
    put(168, "10.03.26", 8)
    put(176, "12.00.00", 8)
    put(184, "768", 8)
    put(192, "EDF+D", 44)
    put(236, "2", 8)
    put(244, "1", 8)
    put(252, "2", 4)
    for i, (label, unit, pmn, pmx, dmn, dmx, n) in enumerate(
        [("ECG", "uV", "-100", "100", "-100", "100", "4"),
         ("EDF Annotations", "", "-1", "1", "-32768", "32767", str(tal_bytes // 2))]
    ):  # fmt: skip
        base = 256
        for width, value in zip(
            (16, 80, 8, 8, 8, 8, 8, 80, 8, 32),
            (label, "", unit, pmn, pmx, dmn, dmx, "", n, ""),
            strict=True,
        ):
            put(base + i * width, value, width)
            base += width * 2
    records = b""
    for onset, values in ((0, [1, 2, 3, 4]), (6, [5, 6, 7, 8])):
        tal = f"+{onset}\x14\x14\x00".encode().ljust(tal_bytes, b"\x00")
        records += np.asarray(values, dtype="<i2").tobytes() + tal
    (tmp_path / "d.edf").write_bytes(bytes(header) + records)
    out = tmp_path / "rec"
    import_edf(tmp_path / "d.edf", out)
    times, decoded = replayed(out)[0]["ECG"]
    assert decoded.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [int(t) - START_NS for t in times] == [
        0, 250_000_000, 500_000_000, 750_000_000,
        6_000_000_000, 6_250_000_000, 6_500_000_000, 6_750_000_000,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda b: b[:-7], "truncated"),
        (lambda b: b + b"\x00\x00", "after the last record"),
        (lambda b: b"1" + b[1:], "not an EDF file"),
        (lambda b: b[:184] + b"abc     " + b[192:], "not a number"),
        (lambda b: b[:244] + b"nan     " + b[252:], "not a finite number"),
        (lambda b: b[:100], "not an EDF file|header size"),
        (lambda b: b[:236] + b"0       " + b[244:1280], "no data records"),
    ],
)
def test_damaged_files_fail_with_one_line_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: object, match: str
) -> None:
    _write(tmp_path / "a.edf")
    data = (tmp_path / "a.edf").read_bytes()
    (tmp_path / "a.edf").write_bytes(damage(data))  # type: ignore[operator]
    out = tmp_path / "rec"
    assert main(["import", "edf", str(tmp_path / "a.edf"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err), err
    assert not out.exists()


def test_missing_file_is_a_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        import_edf(tmp_path / "nope.edf", tmp_path / "rec")


def test_markers_are_markers(tmp_path: Path) -> None:
    _write(tmp_path / "a.edf")
    import_edf(tmp_path / "a.edf", tmp_path / "rec")
    assert sum(isinstance(r, Marker) for r in RecordingReader(tmp_path / "rec")) == 2
