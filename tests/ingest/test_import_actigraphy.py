"""`vagus import actigraph|actiware`: epoch counts as a recording. Real ActiLife exports (read in
place from ../shared/data, never copied) and synthetic ActiLife-with-header and Actiware files
written here from the formats' descriptions (no real Actiware file is shared)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from dsp.sleep import ACTIGRAPH_AXIS1, cole_kripke, minute_counts
from ingest.errors import RecordingError
from ingest.importers.actigraphy import import_actigraphy
from ingest.recording import RecordingReader
from tests.ingest.test_import_wfdb import SHARED, replayed
from vagus.cli import main

ACTILIFE = SHARED / "actigraphy" / "actilife"
needs_actilife = pytest.mark.skipif(
    not ACTILIFE.is_dir(), reason="../shared/data/actigraphy/actilife is absent"
)
START_NS = 1_340_794_440 * 10**9  # 2012-06-27T10:54:00Z


def _column(name: str, column: str) -> np.ndarray:
    with (ACTILIFE / name).open(newline="") as f:
        return np.array([float(r[column]) for r in csv.DictReader(f)])


@pytest.mark.shared_data
@needs_actilife
@pytest.mark.parametrize(
    ("name", "column", "epoch_s"),
    [
        ("GT3XPlus-RawData-Day01.csv", "axis1", 10.0),
        ("GT3XPlus-RawData-Day01-10sec60sec.csv", "axis1", 60.0),
        ("GT3XPlus-RawData-Day01-ColeKripke.csv", "Axis1", 60.0),
    ],
)
def test_actilife_exports_replay_to_their_counts_and_score_like_actilife(
    tmp_path: Path, name: str, column: str, epoch_s: float
) -> None:
    out = tmp_path / "rec"
    summary = import_actigraphy(ACTILIFE / name, out, vendor="actigraph")
    assert summary["epoch_s"] == epoch_s
    streams, _ = replayed(out)
    times, counts = streams[f"ActiGraph {column}"]
    np.testing.assert_array_equal(counts, _column(name, column))
    assert times[0] == START_NS and set(np.diff(times).tolist()) == {int(epoch_s * 1e9)}
    profiles = [d.profile for d in RecordingReader(out).header.devices]
    assert f"sample-stream:actigraph-{column.lower()}" in profiles  # the count scale, by name
    minutes = minute_counts(
        counts, epoch_s=epoch_s, count_scale=ACTIGRAPH_AXIS1, incomplete_last_minute="sum"
    )
    reference = _column("GT3XPlus-RawData-Day01-ColeKripke.csv", "Axis1")
    np.testing.assert_array_equal(minutes, reference)
    with (ACTILIFE / "GT3XPlus-RawData-Day01-ColeKripke.csv").open(newline="") as f:
        asleep = np.array([r["Sleep or Awake?"] == "S" for r in csv.DictReader(f)])
    scored = cole_kripke(minutes, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)
    assert float(np.mean(scored == asleep)) == 1.0


ACTILIFE_HEADER = """------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.3 \
Firmware v2.5.0 \
date format M/d/yyyy at 30 Hz  Filter Normal -----------
Serial Number: NEO1F00000000
Start Time 23:59:30
Start Date 3/10/2026
Epoch Period (hh:mm:ss) 00:00:30
Download Time 10:31:05
Download Date 3/12/2026
Current Memory Address: 0
Current Battery Voltage: 4.13     Mode = 61
--------------------------------------------------
"""


def test_actilife_header_with_bare_rows(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(ACTILIFE_HEADER + "10,20,30,1\n0,0,0,0\n5,6,7,0\n")
    out = tmp_path / "rec"
    summary = import_actigraphy(tmp_path / "a.csv", out, vendor="actigraph")
    assert summary["skipped_columns"] == {"Steps": "steps, not activity counts"}
    times, counts = replayed(out)[0]["ActiGraph Axis1"]
    assert counts.tolist() == [10, 0, 5]
    start = 1_773_187_170 * 10**9  # 2026-03-10T23:59:30Z
    assert times.tolist() == [start, start + 30 * 10**9, start + 60 * 10**9]
    assert b"NEO1F" not in out.read_bytes()


ACTIWARE = """"Identity:","Someone"
"Date of Birth:","1950-01-01"
"Epoch Length:","15"
"Actiwatch Serial Number:","A12345"

"-------------------- Epoch-by-Epoch Data -------------------"

"Line","Date","Time","Off-Wrist Status","Activity","Marker","White Light","Sleep/Wake",\
"Interval Status",
"1","3/10/2026","11:00:00 PM","0","12.00","0","1.5","1","ACTIVE",
"2","3/10/2026","11:00:15 PM","0","0.00","0","0.0","0","REST",
"3","3/10/2026","11:00:30 PM","1","NaN","0","0.0","","EXCLUDED",
"4","3/10/2026","11:00:45 PM","0","3.00","0","0.0","0","REST",
"""


def test_actiware_export_keeps_off_wrist_epochs_as_a_gap(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text(ACTIWARE)
    out = tmp_path / "rec"
    summary = import_actigraphy(tmp_path / "w.csv", out, vendor="actiware")
    assert summary["epoch_s"] == 15.0
    assert "White Light" in summary["skipped_columns"]  # type: ignore[operator]
    times, counts = replayed(out)[0]["Actiwatch Activity"]
    start = 1_773_183_600 * 10**9  # 2026-03-10T23:00:00Z
    assert counts.tolist() == [12, 0, 3]
    assert times.tolist() == [start, start + 15 * 10**9, start + 45 * 10**9]
    raw = out.read_bytes()
    assert b"Someone" not in raw and b"A12345" not in raw and b"1950" not in raw
    assert RecordingReader(out).header.devices[0].profile == "sample-stream:actiwatch-activity"


@pytest.mark.parametrize(
    ("vendor", "text", "match"),
    [
        ("actigraph", ACTILIFE_HEADER.replace("00:00:30", "00:01:00") + "1,2,3\n", None),
        ("actigraph", "timestamp,axis1\n2026-03-10T00:00:00Z,1\n2026-03-10T00:00:10Z,x\n",
         "could not convert"),
        ("actigraph", "timestamp,axis1\n2026-03-10T00:00:00Z,1\n2026-03-10T00:00:10Z,-1\n",
         "non-negative"),
        ("actigraph", "timestamp,axis1\n2026-03-10T00:00:00Z,1\n2026-03-10T00:00:10Z,1.5\n",
         "whole"),
        ("actigraph", "timestamp,axis1\n2026-03-10T00:00:00Z,1\n2026-03-10T00:00:10Z,1\n"
         "2026-03-10T00:00:30Z,1\n", "not evenly spaced"),
        ("actigraph", "timestamp,axis1\n2026-03-10T00:00:00Z,1\n2026-03-10T00:00:10Z\n",
         "line 3 has 1 columns"),
        ("actigraph", "Axis1,Axis2\n1,2\n", "no ActiLife header"),
        ("actigraph", "timestamp,axis1\n2026-03-10T00:00:00Z,1\n2026-03-10T00:00:10Z,1e30\n",
         "not plausible"),
        ("actigraph", ACTILIFE_HEADER.replace("Start Date 3/10/2026\n", ""), "Start Date"),
        ("actigraph", "timestamp,lux\n2026-03-10T00:00:00Z,1\n2026-03-10T00:00:10Z,1\n",
         "no activity count column"),
        ("actiware", ACTIWARE.replace('"15"', '"20"'), "15 s apart, the header says 20 or 1200"),
        ("actiware", ACTIWARE.replace("Epoch-by-Epoch", "Statistics"), "not an Actiware export"),
        ("actiware", ACTIWARE.replace("11:00:45 PM", "11:01:45 PM"), "not evenly spaced"),
    ],
)  # fmt: skip
def test_bad_exports_fail_with_one_line_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], vendor: str, text: str, match: str | None
) -> None:
    (tmp_path / "x.csv").write_text(text)
    out = tmp_path / "rec"
    code = main(["import", vendor, str(tmp_path / "x.csv"), "-o", str(out)])
    err = capsys.readouterr().err
    if match is None:  # a header epoch (60 s) with one bare row: fine, nothing to contradict it
        assert code == 0 and out.exists()
        return
    assert code == 2 and err.count("\n") == 1 and re.search(match, err), err
    assert not out.exists()


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RecordingError, match="cannot read"):
        import_actigraphy(tmp_path / "b.csv", tmp_path / "rec", vendor="actigraph")
