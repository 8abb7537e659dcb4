"""`vagus import wfdb`: WFDB records become recordings that replay, through the ordinary decoders,
to exactly the source's values at exactly the source's sample times."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import IngestError, RecordingError
from ingest.importers.inline import ImportedRecord, decoder_for
from ingest.importers.output import write_imported
from ingest.importers.wfdb import read_adc, read_annotations, read_record
from ingest.importers.wfdb_import import import_wfdb, parse_start
from ingest.recording import (
    Marker,
    NotificationRecord,
    RecordingHeader,
    RecordingReader,
    RecordingWriter,
)
from vagus.cli import main
from vagus.dry_run import dry_run

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
MITDB_100 = SHARED / "ecg" / "mitdb100" / "100"
needs_mitdb = pytest.mark.skipif(
    not MITDB_100.with_suffix(".hea").is_file(), reason="../shared/data/ecg/mitdb100 is absent"
)


def replayed(
    path: Path,
) -> tuple[dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]], list[Marker]]:
    """Per device label: (times, values) decoded from the recording exactly as replay does."""
    reader = RecordingReader(path)
    decoders = {d.device_id: decoder_for(d) for d in reader.header.devices}
    labels = {d.device_id: d.label for d in reader.header.devices}
    times: dict[str, list[npt.NDArray[np.int64]]] = defaultdict(list)
    values: dict[str, list[npt.NDArray[np.float64]]] = defaultdict(list)
    markers = []
    for record in reader:
        if isinstance(record, Marker):
            markers.append(record)
        elif isinstance(record, NotificationRecord):
            for block in decoders[record.device_id].decode(record.to_notification()):
                times[labels[block.device_id]].append(block.times_ns)
                values[labels[block.device_id]].append(block.values)
    assert reader.report.intact
    return {k: (np.concatenate(times[k]), np.concatenate(values[k])) for k in times}, markers


def _pack_212(samples: npt.NDArray[np.int64]) -> bytes:
    """Format 212 packing of interleaved 12-bit samples (the inverse of the reader)."""
    values = samples.ravel() & 0xFFF
    if values.size % 2:
        values = np.append(values, 0)
    pairs = values.reshape(-1, 2)
    out = np.empty((pairs.shape[0], 3), dtype=np.uint8)
    out[:, 0] = pairs[:, 0] & 0xFF
    out[:, 1] = ((pairs[:, 0] >> 8) & 0x0F) | ((pairs[:, 1] >> 8) << 4)
    out[:, 2] = pairs[:, 1] & 0xFF
    return out.tobytes()


def _synthetic_record(
    tmp_path: Path, *, fs: str = "250", gain: str = "200"
) -> tuple[Path, npt.NDArray[np.int64]]:
    rng = np.random.default_rng(7)
    adc = rng.integers(-2048, 2048, size=(1003, 2))  # not a whole number of frames
    lines = [f"r 2 {fs} {len(adc)}"]
    for column, name in enumerate(("I", "II")):
        checksum = int(adc[:, column].sum()) % 65536
        lines.append(f"r.dat 212 {gain}(3)/mV 12 0 0 {checksum} 0 {name}")
    (tmp_path / "r.hea").write_text("\n".join(lines) + "\n")
    (tmp_path / "r.dat").write_bytes(_pack_212(adc))
    return tmp_path / "r", adc


@pytest.mark.parametrize(
    ("fs", "gain"), [("250", "200"), ("360", "200"), ("128", "1000"), ("257", "400")]
)
def test_synthetic_record_replays_to_the_exact_adc_values_and_times(
    tmp_path: Path, fs: str, gain: str
) -> None:
    record, adc = _synthetic_record(tmp_path, fs=fs, gain=gain)
    out = tmp_path / "rec.vrec"
    start = parse_start("2026-03-10T12:00:00.5Z")
    import_wfdb(record, out, start_time_ns=start)
    streams, markers = replayed(out)
    assert markers == []
    expected_times = np.array([start + i * 10**9 // int(fs) for i in range(len(adc))])
    microvolts_per_unit = 1000 / float(gain)
    for column, lead in enumerate(("I", "II")):
        times, values = streams[lead]
        np.testing.assert_array_equal(times, expected_times)
        np.testing.assert_array_equal(values, (adc[:, column] - 3) * microvolts_per_unit)
        # and the ADC integers come back exactly
        np.testing.assert_array_equal(values / microvolts_per_unit + 3, adc[:, column])


@pytest.mark.shared_data
@needs_mitdb
def test_mitdb_100_values_times_and_annotations_survive(tmp_path: Path) -> None:
    out = tmp_path / "100.vrec"
    summary = import_wfdb(MITDB_100, out)
    assert summary["samples_per_signal"] == [650_000, 650_000]
    streams, markers = replayed(out)
    header, adc = read_adc(MITDB_100)
    record_mv = read_record(MITDB_100)
    expected_times = np.arange(650_000, dtype=np.int64) * 10**9 // 360
    for column, lead in enumerate(("MLII", "V5")):
        times, values_uv = streams[lead]
        np.testing.assert_array_equal(times, expected_times)
        baseline = header.signals[column].baseline
        np.testing.assert_array_equal(values_uv, (adc[:, column] - baseline) * 5.0)
        np.testing.assert_allclose(values_uv / 1000, record_mv.lead(lead), rtol=0, atol=1e-12)
    annotations = read_annotations(MITDB_100.with_suffix(".atr"))
    assert [m.label for m in markers] == [f"annotation:{s}" for s in annotations.symbol]
    assert [m.gateway_time_ns for m in markers] == (annotations.sample * 10**9 // 360).tolist()
    assert sum(m.detail.endswith(" beat") for m in markers) == 2273


@pytest.mark.shared_data
@needs_mitdb
def test_cli_import_then_dry_run_reports_both_leads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rec"
    assert main(["import", "wfdb", str(MITDB_100), "-o", str(out)]) == 0
    report = dry_run(out)
    assert not report["decode_errors"]
    ecg = [s for s in report["streams"] if s["stream"] == "ecg"]
    assert [(s["samples"], s["nominal_rate_hz"], s["gaps"]) for s in ecg] == [
        (650_000, 360.0, 0)
    ] * 2
    assert all(abs(s["measured_rate_hz"] - 360.0) < 1e-3 for s in ecg)
    assert main(["import", "wfdb", str(MITDB_100), "-o", str(out)]) == 2  # never overwritten
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("header", "data", "match"),
    [
        ("r 1 250 4\nr.dat 212 200 12 0 0 0 0 I\n", b"\x00\x00\x00", "bytes"),
        ("r 1 250 2\nr.dat 212 200 12 0 0 7 0 I\n", b"\x00" * 3, "checksum"),
        ("garbage\n", b"", "malformed|need"),
        ("r 1 250 2\nr.dat 16 200 16 0 0 0 0 I\n", b"\x00" * 3, "3 bytes, the header needs 4"),
        ("r 1 250 2\nr.dat 16 200 16 0 0 0 0 I\n", b"", "0 bytes"),
        ("r 1 250\x00 2\nr.dat 16 200 16 0 0 0 0 I\n", b"\x00" * 4, "control characters"),
        ("r 0 250\n", b"", "no signals and no .atr"),
    ],
)
def test_malformed_input_is_one_line_exit_2_and_leaves_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], header: str, data: bytes, match: str
) -> None:
    (tmp_path / "r.hea").write_text(header)
    (tmp_path / "r.dat").write_bytes(data)
    out = tmp_path / "out.vrec"
    assert main(["import", "wfdb", str(tmp_path / "r"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vagus: ")
    assert re.search(match, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.dat", "r.hea"]


def test_corrupt_annotations_fail_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record, _ = _synthetic_record(tmp_path)
    (tmp_path / "r.atr").write_bytes(b"\x01")
    assert main(["import", "wfdb", str(record), "-o", str(tmp_path / "o")]) == 2
    assert "not a readable WFDB annotation file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_failure_mid_write_leaves_neither_output_nor_partial(tmp_path: Path) -> None:
    header = RecordingHeader(patient_id="p-000000000000", start_time_ns=0, devices=[])

    def records() -> Iterator[ImportedRecord]:
        yield Marker(1, "annotation:N", "")
        raise RecordingError("source broke mid-way")

    with pytest.raises(RecordingError, match="mid-way"):
        write_imported(tmp_path / "out", header, records())
    assert list(tmp_path.iterdir()) == []


def test_parse_start_rejects_garbage() -> None:
    assert parse_start("1970-01-01T00:00:01") == 10**9
    with pytest.raises(RecordingError):
        parse_start("yesterday")


def test_inline_profiles_need_format_2(tmp_path: Path) -> None:
    record, _ = _synthetic_record(tmp_path)
    import_wfdb(record, tmp_path / "v2")
    reader = RecordingReader(tmp_path / "v2")
    assert (tmp_path / "v2").read_bytes()[8:10] == b"\x02\x00"
    assert reader.header.format_version == 2
    device = reader.header.devices[0]
    with pytest.raises(RecordingError, match="format_version 2"):
        RecordingWriter(
            tmp_path / "v1",
            RecordingHeader(patient_id="p-000000000000", start_time_ns=0, devices=[device]),
        )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header_cut=st.integers(0, 200),
    header_noise=st.binary(max_size=12),
    dat=st.binary(max_size=64),
    atr=st.one_of(st.none(), st.binary(max_size=64)),
)
def test_fuzzed_records_import_or_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory,
    header_cut: int,
    header_noise: bytes,
    dat: bytes,
    atr: bytes | None,
) -> None:
    """Random damage to every file of a record: an import succeeds or raises IngestError (the
    CLI's one-line exit 2), never anything else, and leaves no partial file."""
    folder = tmp_path_factory.mktemp("fuzz")
    header = b"r 2 250 8\nr.dat 212 200(3)/mV 12 0 0\nr.dat 212 200(3)/mV 12 0 0\n"  # no checksums
    (folder / "r.hea").write_bytes(header[:header_cut] + header_noise + header[header_cut:])
    (folder / "r.dat").write_bytes(dat)
    if atr is not None:
        (folder / "r.atr").write_bytes(atr)
    out = folder / "out"
    try:
        import_wfdb(folder / "r", out)
    except IngestError:
        assert not out.exists()
    else:
        assert RecordingReader(out).header.format_version == 2
    assert not (folder / ".out.partial").exists()
