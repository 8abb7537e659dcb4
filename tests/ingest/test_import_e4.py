"""`vagus import e4`: an Empatica E4 export replays to the CSV's exact values and times."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import IngestError
from ingest.importers.e4 import import_e4
from ingest.importers.inline import decoder_for
from ingest.recording import NotificationRecord, RecordingReader
from tests.ingest.test_import_wfdb import replayed
from vagus.cli import main
from vagus.dry_run import dry_run

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
E4_FLIRT = SHARED / "eda" / "e4_flirt"
STRESS_PREDICT = SHARED / "stress" / "stress_predict"
needs_e4 = pytest.mark.skipif(not E4_FLIRT.is_dir(), reason="../shared/data/eda/e4_flirt is absent")
needs_stress_predict = pytest.mark.skipif(
    not STRESS_PREDICT.is_dir(), reason="../shared/data/stress/stress_predict is absent"
)


def _source(path: Path) -> tuple[int, float, list[list[str]]]:
    lines = path.read_text().strip().split("\n")
    start_ns = int(Decimal(lines[0].split(",")[0]) * 10**9)
    return start_ns, float(lines[1].split(",")[0]), [ln.split(",") for ln in lines[2:]]


def _write_e4(folder: Path) -> None:
    folder.mkdir()
    (folder / "EDA.csv").write_text(
        "1560279825.123456\n4.000000\n0.000000\n0.020499\n0.1\n1e-7\n0.094807\n"
    )
    (folder / "ACC.csv").write_text(
        "1560279825.0, 1560279825.0, 1560279825.0\n32.0, 32.0, 32.0\n"
        "-61,25,6\n-62,24,11\n127,-128,0\n"
    )
    (folder / "IBI.csv").write_text("1560279825.000000, IBI\n83.503822,0.609403\n84.1,0.3\n")
    (folder / "tags.csv").write_text("1560279830.25\n")


def test_synthetic_export_is_exact(tmp_path: Path) -> None:
    folder = tmp_path / "e4"
    _write_e4(folder)
    out = tmp_path / "rec"
    import_e4(folder, out)
    streams, markers = replayed(out)
    start = 1560279825_123456000
    eda_times, eda = streams["E4 eda"]
    assert eda.tolist() == [0.0, 0.020499, 0.1, 1e-7, 0.094807]  # == float(text), bit for bit
    assert eda_times.tolist() == [start + i * 250_000_000 for i in range(5)]
    acc_times, acc = streams["E4 acc"]
    # milli-g, as the pipeline reads ACC: counts of 1/64 g times 15.625, exact in binary
    np.testing.assert_array_equal(
        acc, np.array([[-61, 25, 6], [-62, 24, 11], [127, -128, 0]]) * 15.625
    )
    assert acc_times.tolist() == [1560279825_000000000 + i * 31_250_000 for i in range(3)]
    ibi_times, ibi = streams["E4 ibi"]
    assert ibi.tolist() == [0.609403, 0.3]
    assert ibi_times.tolist() == [
        1560279825_000000000 + 83_503_822_000,
        1560279825_000000000 + 84_100_000_000,
    ]
    assert [(m.gateway_time_ns, m.label) for m in markers] == [
        (1560279830_250000000, "button:e4-tag")
    ]


def test_every_imported_e4_signal_is_the_wrists(tmp_path: Path) -> None:
    """An E4 is a wrist band: its motion is what a wrist-trained stress model takes."""
    folder = tmp_path / "e4"
    _write_e4(folder)
    import_e4(folder, tmp_path / "rec")
    reader = RecordingReader(tmp_path / "rec")
    decoders = {d.device_id: decoder_for(d) for d in reader.header.devices}
    sites = {
        block.stream: block.site
        for record in reader
        if isinstance(record, NotificationRecord)
        for block in decoders[record.device_id].decode(record.to_notification())
    }
    assert {"acc", "eda", "ibi"} <= set(sites) and set(sites.values()) == {"wrist"}


def test_every_file_is_read_or_named_as_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "e4"
    _write_e4(folder)
    (folder / "tags.csv").unlink()
    (folder / "tags_S07.csv").write_text("1560279826\n1560279827.5\n")
    (folder / "info.txt").write_text("about the files\n")
    (folder / "notes.csv").write_text("1,2\n")
    (folder / "nested").mkdir()
    summary = import_e4(folder, tmp_path / "rec")
    assert summary["read"] == ["EDA.csv", "ACC.csv", "IBI.csv", "tags_S07.csv"]
    skipped = summary["skipped"]
    assert isinstance(skipped, dict) and sorted(skipped) == ["info.txt", "nested", "notes.csv"]
    _, markers = replayed(tmp_path / "rec")
    assert [(m.gateway_time_ns, m.detail) for m in markers] == [
        (1560279826_000000000, "tags_S07.csv"),
        (1560279827_500000000, "tags_S07.csv"),
    ]


def test_cli_names_skipped_files_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "e4"
    _write_e4(folder)
    (folder / "readme.md").write_text("x\n")
    assert main(["import", "e4", str(folder), "-o", str(tmp_path / "rec")]) == 0
    assert "skipped file readme.md" in capsys.readouterr().err


@pytest.mark.shared_data
@needs_e4
def test_real_export_replays_to_every_source_value(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    import_e4(E4_FLIRT, out)
    streams, _ = replayed(out)
    for name, label in [("EDA", "eda"), ("BVP", "bvp"), ("TEMP", "temp"), ("HR", "hr")]:
        start, rate, rows = _source(E4_FLIRT / f"{name}.csv")
        times, values = streams[f"E4 {label}"]
        assert values.tolist() == [float(r[0]) for r in rows], name
        assert times.tolist() == [start + i * 10**9 // int(rate) for i in range(len(rows))], name
    start, rate, rows = _source(E4_FLIRT / "ACC.csv")
    times, acc = streams["E4 acc"]
    np.testing.assert_array_equal(acc / 15.625, [[int(v) for v in r] for r in rows])
    report = dry_run(out)
    assert not report["decode_errors"] and report["file"]["clean_end"]
    rates = {s["stream"]: s["measured_rate_hz"] for s in report["streams"]}
    assert (rates["eda"], rates["bvp"], rates["acc"], rates["temp"]) == (4.0, 64.0, 32.0, 4.0)


def _acc_counts(path: Path) -> npt.NDArray[np.float64]:
    return np.loadtxt(path, delimiter=",", skiprows=2, ndmin=2)


@pytest.mark.shared_data
@needs_stress_predict
@pytest.mark.parametrize("subject", ["S01", "S02", "S03"])
def test_stress_predict_subject_imports_with_tags_and_milli_g(tmp_path: Path, subject: str) -> None:
    folder = STRESS_PREDICT / subject
    out = tmp_path / "rec"
    summary = import_e4(folder, out)
    assert f"tags_{subject}.csv" in summary["read"]  # type: ignore[operator]
    assert summary["skipped"] == {"info.txt": "the export's description of its files, no data"}
    streams, markers = replayed(out)
    tag_lines = (folder / f"tags_{subject}.csv").read_text().split()
    assert [m.gateway_time_ns for m in markers] == [int(Decimal(t) * 10**9) for t in tag_lines]
    assert all(m.label == "button:e4-tag" for m in markers) and len(markers) >= 8
    _, acc_mg = streams["E4 acc"]
    np.testing.assert_array_equal(acc_mg, _acc_counts(folder / "ACC.csv") * 15.625)
    # gravity reads ~1000 mg on a wrist at rest: the unit the motion gate assumes
    assert 900 < float(np.median(np.linalg.norm(acc_mg, axis=1))) < 1100


@pytest.mark.shared_data
@needs_stress_predict
def test_stress_predict_motion_gate_fires_on_imported_acc(tmp_path: Path) -> None:
    from dsp.streaming.acc import acc_window

    out = tmp_path / "rec"
    import_e4(STRESS_PREDICT / "S01", out)
    _, acc_mg = replayed(out)[0]["E4 acc"]
    minutes = [acc_mg[i : i + 32 * 60] for i in range(0, len(acc_mg) - 32 * 60, 32 * 60)]
    moving = [acc_window(minute, 32.0)[0]["motion_fraction"] for minute in minutes]
    as_if_g = [acc_window(minute / 1000, 32.0)[0]["motion_fraction"] for minute in minutes]
    # measured on S01: 24 of 54 minutes have some seconds above 0.1 g ENMO; read in g (the old
    # defect) no second ever does, so the motion gate could never fire
    assert sum(1 for f in moving if f) >= 10
    assert not any(as_if_g)


@pytest.mark.parametrize(
    ("file", "text", "match"),
    [
        ("EDA.csv", "1560279825\n4\n0.1\nabc\n", "line 4"),
        ("EDA.csv", "1560279825\n", "rate row"),
        ("EDA.csv", "1560279825\n-4\n0.1\n", "not plausible"),
        ("EDA.csv", "yesterday\n4\n0.1\n", "not a number"),
        ("EDA.csv", "1560279825\n4\n0.1\n\n0.2\n", "empty"),
        ("EDA.csv", "1560279825\n4\n0.1\nnan\n", "non-finite"),
        ("ACC.csv", "1,1,1\n32,32,32\n1,2\n", "columns"),
        ("ACC.csv", "1,1,1\n32,32,32\n1.5,2,3\n", "integer"),
        ("IBI.csv", "1560279825, IBI\n1.0\n", "columns"),
        ("tags_S01.csv", "1560279825,7\n", "columns"),
        ("tags.csv", "soon\n", "not a number"),
    ],
)
def test_malformed_files_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str, text: str, match: str
) -> None:
    folder = tmp_path / "e4"
    folder.mkdir()
    if file.startswith("tags"):  # a tag file is read only beside a data file
        (folder / "EDA.csv").write_text("1560279825\n4\n0.1\n")
    (folder / file).write_text(text)
    out = tmp_path / "rec"
    assert main(["import", "e4", str(folder), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e4"]


def test_binary_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "e4"
    folder.mkdir()
    (folder / "BVP.csv").write_bytes(b"\xff\xfe\x00\x81\n64\n")
    assert main(["import", "e4", str(folder), "-o", str(tmp_path / "r")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_empty_or_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "e4", str(tmp_path / "nope"), "-o", str(tmp_path / "r")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["import", "e4", str(tmp_path / "empty"), "-o", str(tmp_path / "r")]) == 2
    assert "no E4 files" in capsys.readouterr().err


@needs_e4
def test_copied_export_with_a_truncated_last_line_still_fails_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "e4"
    shutil.copytree(E4_FLIRT, folder)
    with (folder / "ACC.csv").open("a") as acc:
        acc.write("-61,2")
    assert main(["import", "e4", str(folder), "-o", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["EDA.csv", "ACC.csv", "IBI.csv", "tags.csv"]),
    text=st.one_of(
        st.binary(max_size=80),
        st.lists(
            st.sampled_from(["1560279825.5", "4", "0.1", "-61,25,6", "1,2", "", " ", "x", "1e400"]),
            max_size=6,
        ).map(lambda rows: "\n".join(rows).encode()),
    ),
)
def test_fuzzed_exports_import_or_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory, name: str, text: bytes
) -> None:
    folder = tmp_path_factory.mktemp("e4")
    (folder / "EDA.csv").write_text("1560279825\n4\n0.1\n0.2\n")
    (folder / name).write_bytes(text)
    out = folder / "out"
    try:
        import_e4(folder, out)
    except IngestError:
        assert not out.exists()
    assert not (folder / ".out.partial").exists()


@pytest.mark.parametrize(("signal", "units"), [("acc", "g"), ("ecg", "mV"), ("eda", "S")])
def test_a_profile_in_another_unit_than_the_pipelines_is_refused(signal: str, units: str) -> None:
    from ingest.errors import RecordingError
    from ingest.importers.inline import inline_profile_toml

    with pytest.raises(RecordingError, match="the pipeline's unit"):
        inline_profile_toml(
            name="x", signal=signal, description="", sample_type="i16", units=units, rate_hz=1.0
        )
