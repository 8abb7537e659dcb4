"""`vagus import ishne`: ISHNE 1.0 Holter files built here field by field from the published
layout (synthetic: no real ISHNE file is shared), with CRC and corruption checks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ingest.importers.ishne import crc_ccitt, import_ishne
from ingest.recording import RecordingReader
from tests.ingest.test_import_wfdb import replayed
from vagus.cli import main

START_NS = 1_773_144_000 * 10**9  # 2026-03-10 12:00:00 UTC


def _crc_ccitt_bitwise(data: bytes) -> int:
    """CRC-CCITT as the standard describes it, bit by bit (independent of binascii)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _ishne(samples: npt.NDArray[np.int64], *, leads: list[int], nv: list[int], var: bytes) -> bytes:
    n, n_leads = int(samples.shape[0]), int(samples.shape[1])

    def h(*values: int) -> bytes:
        return b"".join(v.to_bytes(2, "little", signed=True) for v in values)

    def pad12(values: list[int]) -> bytes:
        return h(*(values + [-9] * (12 - len(values))))

    fixed: bytes = (
        len(var).to_bytes(4, "little")
        + n.to_bytes(4, "little")
        + (522).to_bytes(4, "little")
        + (522 + len(var)).to_bytes(4, "little")
        + h(1)
        + b"Jane".ljust(40, b"\0")  # names: must never reach the recording
        + b"Doe".ljust(40, b"\0")
        + b"ID-7".ljust(20, b"\0")
        + h(2, 1)  # sex, race
        + h(1, 2, 1950)  # birth date
        + h(10, 3, 2026)  # record date
        + h(11, 3, 2026)  # file date
        + h(12, 0, 0)  # start time
        + h(n_leads)
        + pad12(leads)
        + pad12([1] * n_leads)
        + pad12(nv)
        + h(0)
        + b"rec".ljust(40, b"\0")
        + h(200)
        + b"".ljust(80, b"\0")
        + b"".ljust(80, b"\0")
        + b"".ljust(88, b"\0")
    )
    assert len(fixed) == 512
    crc = _crc_ccitt_bitwise(fixed + var)
    body: bytes = samples.astype("<i2").tobytes()
    return b"ISHNE1.0" + crc.to_bytes(2, "little") + fixed + var + body


def _signal(n: int = 1000) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(5)
    samples = rng.integers(-32767, 32767, size=(n, 3))
    samples[10, 1] = -32768  # the format's missing sample, kept
    return samples


def test_crc_matches_the_bitwise_definition() -> None:
    data = bytes(range(256)) * 3
    assert crc_ccitt(data) == _crc_ccitt_bitwise(data)
    assert crc_ccitt(b"123456789") == 0x29B1  # the CCITT-FALSE check value


def test_three_leads_replay_in_microvolts_without_names(tmp_path: Path) -> None:
    samples = _signal()
    (tmp_path / "h.ecg").write_bytes(
        _ishne(samples, leads=[5, 6, 11], nv=[2500, 2500, 1000], var=b"note")
    )
    out = tmp_path / "rec"
    summary = import_ishne(tmp_path / "h.ecg", out)
    assert summary["signals"] == ["ECG I", "ECG II", "ECG V1"]
    streams, _ = replayed(out)
    for column, (label, nv) in enumerate([("ECG I", 2500), ("ECG II", 2500), ("ECG V1", 1000)]):
        times, values = streams[label]
        np.testing.assert_allclose(values, samples[:, column] * nv / 1000, rtol=1e-15)
        assert times[0] == START_NS and times[-1] == START_NS + 999 * 5_000_000
    raw = out.read_bytes()
    assert b"Jane" not in raw and b"Doe" not in raw and b"ID-7" not in raw
    assert RecordingReader(out).header.producer == "vagus import ishne"


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda b: b[:60] + bytes([b[60] ^ 1]) + b[61:], "CRC mismatch"),  # a name byte
        (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], "offset"),
        (lambda b: b[:-3], "truncated"),
        (lambda b: b + b"\x00\x00", "after the last sample"),
        (lambda b: b"ISHNE2.0" + b[8:], "not an ISHNE 1.0 file"),
        (lambda b: b[:300], "shorter than the ISHNE header"),
        (lambda b: b[:8] + b"\x00\x00" + b[10:], "CRC mismatch"),
    ],
)
def test_damaged_files_fail_with_one_line_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: object, match: str
) -> None:
    good = _ishne(_signal(50), leads=[5, 6, 7], nv=[2500] * 3, var=b"")
    (tmp_path / "h.ecg").write_bytes(damage(good))  # type: ignore[operator]
    out = tmp_path / "rec"
    assert main(["import", "ishne", str(tmp_path / "h.ecg"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err), err
    assert not out.exists()
