"""The minimal WFDB reader: real MIT-BIH 100 files and hand-made malformed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.errors import RecordingError
from ingest.importers.wfdb import read_annotations, read_header, read_record

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


@pytest.mark.shared_data
@needs_shared
def test_mitdb_100_record_and_annotations() -> None:
    base = SHARED / "ecg" / "mitdb100" / "100"
    header = read_header(base.with_suffix(".hea"))
    assert (header.fs, header.n_samples, len(header.signals)) == (360.0, 650000, 2)
    record = read_record(base)  # the header checksums are verified while reading
    assert record.lead_names == ("MLII", "V5")
    assert record.signals_mv.shape == (650000, 2)
    # first samples as wfdb-python reads them: (adc - 1024) / 200
    np.testing.assert_allclose(record.signals_mv[0], [-0.145, -0.065])
    annotations = read_annotations(base.with_suffix(".atr"))
    assert len(annotations.symbol) == 2274
    assert annotations.symbol.count("N") == 2239
    assert annotations.symbol.count("A") == 33
    assert annotations.symbol.count("+") == 1
    assert annotations.beats().size == 2273
    assert annotations.sample[:3].tolist() == [18, 77, 370]


def _write_record(tmp_path: Path, header: str, data: bytes) -> Path:
    (tmp_path / "r.hea").write_text(header)
    (tmp_path / "r.dat").write_bytes(data)
    return tmp_path / "r"


def test_format_212_decoding_and_scaling(tmp_path: Path) -> None:
    # samples (ch0, ch1) = (1, -1), (2047, -2048): 12-bit two's complement, packed in 3 bytes
    data = bytes([0x01, 0xF0, 0xFF, 0xFF, 0x87, 0x00])
    checksums = (1 + 2047, (-1 - 2048) % 65536)
    header = (
        "r 2 250 2\n"
        f"r.dat 212 100(0)/mV 12 0 1 {checksums[0]} 0 I\n"
        f"r.dat 212 1000/uV 12 0 -1 {checksums[1]} 0 II\n"
    )
    record = read_record(_write_record(tmp_path, header, data))
    assert record.fs == 250.0
    np.testing.assert_allclose(record.lead("I"), [0.01, 20.47])
    np.testing.assert_allclose(record.lead("II"), [-1e-6, -2.048e-3])  # uV -> mV
    with pytest.raises(KeyError):
        record.lead("V1")


@pytest.mark.parametrize(
    ("header", "data", "match"),
    [
        ("", b"", "empty header"),
        ("r 2 250\n", b"", "nsamp"),
        ("r x 250 2\nr.dat 212\n", b"", "malformed record"),
        ("r 1 250 4\nr.dat 212 200 12 0 0 0 0 I\n", b"\x00\x00\x00", "bytes"),
        ("r 1 250 2\nr.dat 16 200 12 0 0 0 0 I\n", b"\x00" * 4, "format-212"),
        ("r 1 250 2\nr.dat 212 200 12 0 0 7 0 I\n", b"\x00" * 3, "checksum"),
        ("r 1 250 2\nr.dat 212 200/degC 12 0 0 0 0 I\n", b"\x00" * 3, "not a voltage"),
        ("r 1 250 2\nr.dat 212 abc 12 0 0 0 0 I\n", b"\x00" * 3, "gain"),
    ],
)
def test_malformed_records_raise(tmp_path: Path, header: str, data: bytes, match: str) -> None:
    with pytest.raises(RecordingError, match=match):
        read_record(_write_record(tmp_path, header, data))


def test_missing_files_raise(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read header"):
        read_record(tmp_path / "absent")
    with pytest.raises(RecordingError, match="cannot read annotations"):
        read_annotations(tmp_path / "absent.atr")


def _word(code: int, value: int) -> bytes:
    return ((code << 10) | value).to_bytes(2, "little")


def test_annotation_special_codes(tmp_path: Path) -> None:
    skip = (100000).to_bytes(4, "big")  # 32-bit interval, high word first, each little-endian
    skip_words = skip[1::-1] + skip[:1:-1]
    data = (
        _word(1, 10)  # N at 10
        + _word(63, 3)  # AUX of 3 bytes, padded to 4
        + b"(N\x00\x00"
        + _word(59, 0)
        + skip_words  # SKIP 100000
        + _word(5, 5)  # V at 100015
        + _word(60, 1)  # NUM, CHN: ignored
        + _word(62, 0)
        + _word(28, 0)  # + (rhythm) at 100015
        + _word(0, 0)
    )
    path = tmp_path / "a.atr"
    path.write_bytes(data)
    annotations = read_annotations(path)
    assert annotations.sample.tolist() == [10, 100015, 100015]
    assert annotations.symbol == ("N", "V", "+")
    assert annotations.beats().tolist() == [10, 100015]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x01", "odd length"),
        (_word(1, 10), "end-of-file"),
        (_word(15, 1) + _word(0, 0), "unknown annotation code"),
        (_word(59, 0) + b"\x00\x00", "truncated"),
    ],
)
def test_malformed_annotations_raise(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "a.atr"
    path.write_bytes(data)
    with pytest.raises(RecordingError, match=match):
        read_annotations(path)
