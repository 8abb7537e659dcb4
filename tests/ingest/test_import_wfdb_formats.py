"""`vagus import wfdb` through the wfdb package: every shared record, every storage format, several
samples per frame, annotation-only records. The shared records are checked against the project's
own format-212 and MIT-annotation reader (ingest.importers.wfdb), written independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ingest.errors import RecordingError
from ingest.importers.wfdb import read_adc, read_annotations
from ingest.importers.wfdb_import import import_wfdb
from ingest.importers.wfdb_package import read_digital
from ingest.recording import Marker, RecordingReader
from tests.ingest.test_import_wfdb import SHARED, replayed
from vagus.cli import main

wfdb = pytest.importorskip("wfdb", reason="the 'formats' extra (wfdb package) is not installed")

SIGNAL_RECORDS = ["mitdb100/100", "mitdb208/208", "mitdb119/119", "mitdb200/200", "svdb800/800"]
NSR001 = SHARED / "hrv" / "nsr2db" / "nsr001"


def _shared(record: str) -> Path:
    path = SHARED / "ecg" / record
    if not path.with_suffix(".hea").is_file():
        pytest.skip(f"../shared/data/ecg/{record} is absent")
    return path


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("name", SIGNAL_RECORDS)
def test_every_shared_record_imports_to_the_independent_readers_values(
    tmp_path: Path, name: str
) -> None:
    record = _shared(name)
    out = tmp_path / "rec"
    import_wfdb(record, out)
    streams, markers = replayed(out)
    header, adc = read_adc(record)  # the project's own format-212 decoder
    assert len(streams) == len(header.signals)  # 800's two leads are both named ECG
    for (times, values), (column, signal) in zip(
        streams.values(), enumerate(header.signals), strict=True
    ):
        assert len(times) == header.n_samples
        expected = (adc[:, column] - signal.baseline) * (1000.0 / signal.gain)
        np.testing.assert_array_equal(values, expected)
    annotations = read_annotations(record.with_suffix(".atr"))  # the project's own parser
    assert [m.label.removeprefix("annotation:") for m in markers] == list(annotations.symbol)
    expected_ns = [int(s) * 10**9 // int(header.fs) for s in annotations.sample]
    assert [m.gateway_time_ns for m in markers] == expected_ns


@pytest.mark.shared_data
def test_annotation_only_record_nsr001(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not NSR001.with_suffix(".hea").is_file():
        pytest.skip("../shared/data/hrv/nsr2db is absent")
    out = tmp_path / "rec"
    assert main(["import", "wfdb", str(NSR001), "-o", str(tmp_path / "none")]) == 2
    assert "--annotator" in capsys.readouterr().err
    summary = import_wfdb(NSR001, out, annotator="ecg")
    assert summary["signals"] == [] and summary["annotations"] == 106_835
    markers_read = [r for r in RecordingReader(out) if isinstance(r, Marker)]
    own = read_annotations(NSR001.with_suffix(".ecg"))  # the project's own parser, 128 Hz
    assert [m.gateway_time_ns for m in markers_read] == [int(s) * 10**9 // 128 for s in own.sample]
    assert [m.label for m in markers_read] == ["annotation:" + s for s in own.symbol]


def _walk(n: int, low: int, high: int, seed: int) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    steps = rng.integers(-20, 21, size=n)
    return np.clip(np.cumsum(steps), low, high).astype(np.int64)


@pytest.mark.parametrize(
    ("fmt", "low", "high"),
    [
        ("16", -32000, 32000),
        ("24", -8_000_000, 8_000_000),
        ("32", -2_000_000_000, 2_000_000_000),
        ("80", -127, 127),
        ("508", -127, 127),
        ("516", -32000, 32000),
    ],
)
def test_formats_the_package_writes_replay_exactly(
    tmp_path: Path, fmt: str, low: int, high: int
) -> None:
    adc = np.column_stack([_walk(999, low, high, 1), _walk(999, low, high, 2)])
    if fmt in {"24", "32"}:  # use the width: steps of 20 never leave a narrow range
        adc = adc * (high // 1000)
    wfdb.wrsamp(
        "r",
        fs=250,
        units=["mV", "mmHg"],
        sig_name=["ECG", "ABP"],
        d_signal=adc,
        fmt=[fmt, fmt],
        adc_gain=[200.0, 10.0],
        baseline=[0, 5],
        write_dir=str(tmp_path),
    )
    out = tmp_path / "rec"
    summary = import_wfdb(tmp_path / "r", out)
    assert summary["formats"] == [fmt]
    streams, _ = replayed(out)
    np.testing.assert_array_equal(streams["ECG"][1], adc[:, 0] * 5.0)  # 1000/200 µV per unit
    np.testing.assert_array_equal(streams["ABP"][1], (adc[:, 1] - 5) * 0.1)  # mmHg, kept


def _hand_written(fmt: str, adc: npt.NDArray[np.int64]) -> bytes:
    """Formats the package cannot write, encoded here from the WFDB specification."""
    if fmt == "61":  # 16-bit two's complement, big-endian
        return adc.astype(">i2").tobytes()
    if fmt == "160":  # 16-bit offset binary
        return (adc + 32768).astype("<u2").tobytes()
    # 8: 8-bit first differences, the first from an initial value of 0 (header field 6)
    return np.diff(adc, prepend=0).astype("i1").tobytes()


def test_format_61_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "r.dat").write_bytes(_hand_written("61", np.arange(4)))
    (tmp_path / "r.hea").write_text("r 1 360 4\nr.dat 61 200 16 0 0 6 0 A\n")
    with pytest.raises(RecordingError, match="format 61"):
        read_digital(tmp_path / "r")


@pytest.mark.parametrize("fmt", ["8", "160"])
def test_formats_written_by_hand_replay_exactly(tmp_path: Path, fmt: str) -> None:
    adc = _walk(500, -30000 if fmt != "8" else -120, 30000 if fmt != "8" else 120, 3)
    (tmp_path / "r.dat").write_bytes(_hand_written(fmt, adc))
    checksum = int(adc.sum()) % 65536
    (tmp_path / "r.hea").write_text(f"r 1 360 {adc.size}\nr.dat {fmt} 200 16 0 0 {checksum} 0 A\n")
    out = tmp_path / "rec"
    assert import_wfdb(tmp_path / "r", out)["formats"] == [fmt]
    np.testing.assert_array_equal(replayed(out)[0]["A"][1], adc * 5.0)


def test_hand_written_format_16_with_two_samples_per_frame(tmp_path: Path) -> None:
    """Written here byte by byte (not by the package): A has 2 samples per frame, B one."""
    frames = 40
    a = np.arange(frames * 2, dtype=np.int64) * 7 - 200
    b = np.arange(frames, dtype=np.int64) * -3 + 11
    interleaved = np.empty(frames * 3, dtype="<i2")
    interleaved[0::3], interleaved[1::3], interleaved[2::3] = a[0::2], a[1::2], b
    (tmp_path / "r.dat").write_bytes(interleaved.tobytes())
    (tmp_path / "r.hea").write_text(
        f"r 2 100 {frames}\n"
        f"r.dat 16x2 400(0)/mV 16 0 0 {int(a.sum()) % 65536} 0 A\n"
        f"r.dat 16 400(0)/mV 16 0 0 {int(b.sum()) % 65536} 0 B\n"
    )
    out = tmp_path / "rec"
    import_wfdb(tmp_path / "r", out)
    streams, _ = replayed(out)
    np.testing.assert_array_equal(streams["A"][1], a * 2.5)
    np.testing.assert_array_equal(streams["B"][1], b * 2.5)
    assert np.diff(streams["A"][0]).tolist() == [5_000_000] * (frames * 2 - 1)  # 200 Hz
    assert np.diff(streams["B"][0]).tolist() == [10_000_000] * (frames - 1)  # 100 Hz


def test_checksum_and_truncation_are_named(tmp_path: Path) -> None:
    samples = np.arange(10, dtype="<i2")
    (tmp_path / "r.dat").write_bytes(samples.tobytes())
    (tmp_path / "r.hea").write_text("r 1 100 10\nr.dat 16 200 16 0 0 999 0 A\n")
    with pytest.raises(RecordingError, match="checksum mismatch for signal 'A'"):
        read_digital(tmp_path / "r")
    (tmp_path / "r.hea").write_text("r 1 100 12\nr.dat 16 200 16 0 0 45 0 A\n")
    with pytest.raises(RecordingError, match="20 bytes, the header needs 24"):
        read_digital(tmp_path / "r")


def test_header_base_time_is_the_default_start(tmp_path: Path) -> None:
    (tmp_path / "r.dat").write_bytes(np.zeros(4, dtype="<i2").tobytes())
    (tmp_path / "r.hea").write_text("r 1 100 4 12:30:00 03/12/2026\nr.dat 16 200 16 0 0 0 0 A\n")
    out = tmp_path / "rec"
    import_wfdb(tmp_path / "r", out)
    times = replayed(out)[0]["A"][0]
    assert times[0] == 1_796_301_000 * 10**9  # 2026-12-03T12:30:00Z
