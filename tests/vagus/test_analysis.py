"""`vagus analyze`: the table is what the gateway sends for the same recording, window by window,
and it survives CSV and Parquet."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from hardware.clock import WallClock
from hardware.devices import SimulatedDevice
from ingest.replay import ReplayClock, Speed, open_recording, replay
from stream.events import Event, Features, FeatureWindow, StressEpisode, StressScore
from stream.settings import KafkaSettings
from tests.helpers import run_vagus
from vagus.analysis import TableError, WindowTable, analyze_recording
from vagus.config import VagusConfig
from vagus.demo import DEFAULT_RECORDING
from vagus.gateway import Gateway

#: 33.5 min of data, 60-s windows every 10 s.
DEMO_WINDOWS = 196


@dataclass
class SentEvents:
    """Stands in for the gateway's Kafka producer: keeps what the gateway sends."""

    events: list[Event] = field(default_factory=list)

    async def send(self, event: Event) -> None:
        self.events.append(event)

    async def flush(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(scope="module")
def table() -> WindowTable:
    return analyze_recording(DEFAULT_RECORDING)


@pytest_asyncio.fixture(scope="module")
async def sent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SentEvents]:
    """The recording replayed through a Gateway's own handle path, as the demo replays it."""
    reader = open_recording(DEFAULT_RECORDING)
    clock = ReplayClock(Speed(None))
    gateway = Gateway(
        kafka=KafkaSettings().with_bootstrap("127.0.0.1:9"),  # never started: no broker
        config=VagusConfig(),
        patient_id=reader.header.patient_id,
        devices={d.device_id: d for d in reader.header.devices},
        clock=WallClock(),
        output_device=SimulatedDevice(),
        lockstep=False,
        state_dir=tmp_path_factory.mktemp("gateway"),
    )
    sent = SentEvents()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(gateway, "producer", sent)
            async for record in replay(reader, clock):
                await gateway.handle(record)
            await gateway.finish()
    finally:
        await gateway.stop()  # with its own producer back, whose spool it closes
    yield sent


def test_one_row_per_window_the_gateway_sends(table: WindowTable, sent: SentEvents) -> None:
    windows = sent.of(FeatureWindow)
    assert len(table.rows) == len(windows) == DEMO_WINDOWS
    assert table.patient_id == open_recording(DEFAULT_RECORDING).header.patient_id
    assert table.notes == []


def test_rows_equal_the_gateways_windows_and_scores(table: WindowTable, sent: SentEvents) -> None:
    windows = [w for w in sent.events if isinstance(w, FeatureWindow)]
    scores = {s.window_id: s for s in sent.events if isinstance(s, StressScore)}
    assert len(scores) == len(windows)
    for row, window in zip(table.rows, windows, strict=True):
        assert (row["window_start_ns"], row["window_end_ns"]) == (
            window.window_start_ns,
            window.window_end_ns,
        )
        # Same code over the same data: equal to the last bit, not merely close.
        for name in Features.__struct_fields__:
            assert row[name] == getattr(window.features, name), name
        for stream, share in window.coverage.items():
            assert row[f"coverage_{stream}"] == share
        score = scores[window.event_id]
        assert row["stress_probability"] == score.score
        assert row["score_quality"] == score.quality
        assert row["threshold"] == score.threshold
        for name, value in score.components.items():
            assert row[name] == value
    states = {row["scorer_state"] for row in table.rows}
    assert states == {"calibrating", "scored"}  # a clean simulated recording: nothing refused
    assert table.rows[0]["window_start"] == "2026-03-10T14:00:00.010+00:00"


def test_the_episode_columns_follow_the_gateways_episode_events(
    table: WindowTable, sent: SentEvents
) -> None:
    """Every episode (the demo has one, from the stress onset: docs/model-card.md) marks
    exactly its windows, under its own id."""
    windows = [w.event_id for w in sent.events if isinstance(w, FeatureWindow)]
    episodes = [e for e in sent.events if isinstance(e, StressEpisode)]
    assert episodes and [e.phase for e in episodes] == ["start", "end"] * (len(episodes) // 2)
    bounds = [windows.index(e.trigger_window_id) for e in episodes]
    phases = [row["episode_phase"] for row in table.rows]
    assert [i for i, p in enumerate(phases) if p == "start"] == bounds[0::2]
    assert [i for i, p in enumerate(phases) if p == "end"] == bounds[1::2]
    spans = list(zip(bounds[0::2], bounds[1::2], strict=True))
    inside = [i for start, end in spans for i in range(start, end)]
    assert [i for i, row in enumerate(table.rows) if row["in_episode"]] == inside
    ids = [{row["episode_id"] for row in table.rows[start : end + 1]} for start, end in spans]
    assert all(len(one) == 1 and None not in one for one in ids)
    assert len(set().union(*ids)) == len(spans)  # one id per episode
    marked = {i for start, end in spans for i in range(start, end + 1)}
    assert all(row["episode_id"] is None for i, row in enumerate(table.rows) if i not in marked)


def test_csv_round_trips_and_reads_without_vagus(table: WindowTable, tmp_path: Path) -> None:
    path = tmp_path / "windows.csv"
    table.to_csv(path)
    assert WindowTable.read_csv(path).rows == table.rows
    with path.open(newline="") as source:
        plain = list(csv.DictReader(source))
    assert list(plain[0]) == table.columns
    assert [float(r["heart_rate_bpm"]) for r in plain] == table.column("heart_rate_bpm")
    assert [r["in_episode"] for r in plain].count("true") == sum(
        bool(r["in_episode"]) for r in table.rows
    )


def test_parquet_round_trips_with_types(table: WindowTable, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    path = tmp_path / "windows.parquet"
    table.to_parquet(path)
    read = pq.read_table(path)
    assert read.column_names == table.columns
    assert read.schema.field("window_end_ns").type == pa.int64()
    assert read.schema.field("in_episode").type == pa.bool_()
    assert read.to_pylist() == [{c: row[c] for c in table.columns} for row in table.rows]


def test_parquet_without_pyarrow_is_a_clear_error(
    table: WindowTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(TableError, match="needs pyarrow"):
        table.to_parquet(tmp_path / "windows.parquet")


def test_to_pandas_keeps_rows_and_columns(table: WindowTable) -> None:
    pytest.importorskip("pandas")
    frame = table.to_pandas()
    assert list(frame.columns) == table.columns
    assert len(frame) == DEMO_WINDOWS
    assert frame["window_end_ns"].is_monotonic_increasing


def test_the_command_writes_the_table_and_says_so(tmp_path: Path) -> None:
    output = tmp_path / "windows.csv"
    result = run_vagus("analyze", str(DEFAULT_RECORDING), "-o", str(output), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["rows"] == DEMO_WINDOWS and summary["output"] == str(output)
    assert f"{DEMO_WINDOWS} windows" in result.stdout.splitlines()[0]
    assert len(WindowTable.read_csv(output).rows) == DEMO_WINDOWS


@pytest.mark.parametrize("kind", ["missing", "not a recording", "a folder"])
def test_an_unusable_input_is_one_line_and_exit_2(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "input.vrec"
    if kind == "not a recording":
        path.write_text("this is a shopping list, not a recording\n")
    elif kind == "a folder":
        path.mkdir()
    result = run_vagus("analyze", str(path), "-o", str(tmp_path / "windows.csv"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vagus: {path}: ")
    assert not (tmp_path / "windows.csv").exists()


def test_an_unknown_table_format_is_refused_before_any_work(tmp_path: Path) -> None:
    output = tmp_path / "w.xlsx"
    result = run_vagus("analyze", str(DEFAULT_RECORDING), "-o", str(output))
    assert result.returncode == 2
    assert result.stderr.strip() == f"vagus: {output}: write .csv or .parquet, not .xlsx"
