"""`vagus analyze`: the gateway's own signal path over a recording, one table row per window.

The rows come from the events the gateway would have sent (:class:`vagus.record_driver.
RecordDriver`, the code the gateway runs), so an engineer's offline table and the live stream
cannot drift apart. :func:`window_table` builds the same rows from events read back from a run
directory (vagus.run_dir). No pandas here: a table is columns and plain rows; pandas and pyarrow
are imported only by the export that needs them.

Columns (:func:`column_kind` gives each one's type):

* ``window_start`` / ``window_end`` (ISO 8601, UTC) and ``*_ns`` (gateway Unix ns), ``window_id``;
* every field of :class:`stream.events.Features`;
* ``coverage_<stream>``: share of the window's samples present; ``quality_<stream>``: the
  stream's last reported signal quality (ok / degraded / gap);
* ``score_quality`` (what StressScore says), ``scorer_state`` (calibrating / scored / refused),
  ``refusal_reason`` (the quality when refused), ``stress_probability``, ``threshold``,
  ``method`` and the score's components (``model_probability``, ``z_*``);
* ``in_episode`` (an episode is open after this window: from its start window to the window
  before its end), ``episode_id`` (start window to end window), ``episode_phase``.
"""

from __future__ import annotations

import csv
import tempfile
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dsp.stress import StressModel
from ingest.replay import open_recording
from stream.events import Event, Features, FeatureWindow, SignalQuality, StressEpisode, StressScore
from vagus.config import VagusConfig
from vagus.record_driver import RecordDriver

if TYPE_CHECKING:
    import pandas as pd

PRODUCER_ID = "vagus-analyze"
Cell = str | int | float | bool | None
ColumnKind = Literal["str", "int", "float", "bool"]

_FEATURE_KINDS: dict[str, ColumnKind] = {
    name: "int" if name in {"beats", "scr_count"} else "float"
    for name in Features.__struct_fields__
}
_FIXED_KINDS: dict[str, ColumnKind] = {
    "window_start": "str",
    "window_end": "str",
    "window_start_ns": "int",
    "window_end_ns": "int",
    "window_id": "str",
    **_FEATURE_KINDS,
    "score_quality": "str",
    "scorer_state": "str",
    "refusal_reason": "str",
    "stress_probability": "float",
    "threshold": "float",
    "method": "str",
    "in_episode": "bool",
    "episode_id": "str",
    "episode_phase": "str",
}
_HEAD = list(_FIXED_KINDS)[: 5 + len(_FEATURE_KINDS)]
_SCORE = ["score_quality", "scorer_state", "refusal_reason", "stress_probability", "threshold"]
_TAIL = ["method", "in_episode", "episode_id", "episode_phase"]


class TableError(Exception):
    """A table that cannot be written or read; the message is one line for the user."""


def column_kind(name: str) -> ColumnKind:
    """Every column's type follows from its name (so a CSV reads back typed)."""
    if name in _FIXED_KINDS:
        return _FIXED_KINDS[name]
    return "str" if name.startswith("quality_") else "float"


def iso_time(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")


@dataclass
class WindowTable:
    """One row per feature window; ``notes`` says what a reader should know (decode errors,
    a damaged recording)."""

    columns: list[str]
    rows: list[dict[str, Cell]]
    source: str = ""
    patient_id: str = ""
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> list[Cell]:
        return [row.get(name) for row in self.rows]

    def to_csv(self, path: Path) -> None:
        """Empty cells are missing values; floats keep every digit (they read back equal)."""
        with path.open("w", newline="", encoding="utf-8") as output:
            writer = csv.writer(output)
            writer.writerow(self.columns)
            writer.writerows([_csv_cell(row.get(c)) for c in self.columns] for row in self.rows)

    @classmethod
    def read_csv(cls, path: Path) -> WindowTable:
        with path.open(newline="", encoding="utf-8") as source:
            reader = csv.reader(source)
            columns = next(reader, [])
            rows = [
                {c: _parse(column_kind(c), text) for c, text in zip(columns, line, strict=True)}
                for line in reader
            ]
        return cls(columns, rows, source=str(path))

    def to_parquet(self, path: Path) -> None:
        """Typed columns with nulls; needs pyarrow (raises :class:`TableError` without it)."""
        pa, pq = _pyarrow()
        types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
        schema = pa.schema([(c, types[column_kind(c)]) for c in self.columns])
        arrays = {c: self.column(c) for c in self.columns}
        pq.write_table(pa.Table.from_pydict(arrays, schema=schema), path)

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd  # noqa: PLC0415 - only this export needs pandas

        return pd.DataFrame(self.rows, columns=self.columns)


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:
        raise TableError("writing parquet needs pyarrow; install it, or write .csv") from exc
    return pa, pq


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _parse(kind: ColumnKind, text: str) -> Cell:
    if text == "":
        return None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text == "true"
    return text


def analyze_recording(
    path: Path, config: VagusConfig | None = None, *, model: StressModel | None = None
) -> WindowTable:
    """Run the gateway's pipeline over the recording at ``path``: one row per window
    (``model``: a stress model file other than the bundled one the configuration chooses).

    No broker and no clock: windows close on the data's own time, as they do in the gateway.
    The patient's baseline is learnt afresh in a temporary state directory, so no real
    patient's calibration file is read or written. Raises ``OSError`` or
    :class:`ingest.errors.RecordingError` for a file that cannot be read as a recording.
    """
    config = config if config is not None else VagusConfig()
    reader = open_recording(path)
    header = reader.header
    events: list[Event] = []
    with tempfile.TemporaryDirectory(prefix="vagus-analyze-") as state_dir:
        driver = RecordDriver.build(
            devices={d.device_id: d for d in header.devices},
            config=config,
            patient_id=header.patient_id,
            producer_id=PRODUCER_ID,
            state_dir=Path(state_dir),
            model=model,
        )
        for record in reader:
            for closed in driver.handle(record):
                events += [closed.window, *closed.events]
        for closed in driver.finish():
            events += [closed.window, *closed.events]
    notes = []
    if errors := sum(driver.stats.decode_errors.values()):
        notes.append(f"{errors} notifications could not be decoded and were skipped")
    if not reader.report.intact:
        notes.append("the recording is damaged: " + "; ".join(reader.report.problems))
    table = window_table(events, source=str(path), patient_id=header.patient_id)
    table.notes += notes
    return table


def window_table(events: Iterable[Event], *, source: str = "", patient_id: str = "") -> WindowTable:
    """The rows of every FeatureWindow among ``events``, joined with its score, the episode
    state and the latest signal quality per stream (events in any order)."""
    windows: list[FeatureWindow] = []
    scores: dict[str, StressScore] = {}
    episodes: dict[str, StressEpisode] = {}
    quality: list[SignalQuality] = []
    for event in events:
        if isinstance(event, FeatureWindow):
            windows.append(event)
        elif isinstance(event, StressScore):
            scores[event.window_id] = event
        elif isinstance(event, StressEpisode):
            episodes[event.trigger_window_id] = event
        elif isinstance(event, SignalQuality):
            quality.append(event)
    windows.sort(key=lambda w: w.window_end_ns)
    streams = sorted({s for w in windows for s in w.coverage} | {q.stream for q in quality})
    components = sorted({k for s in scores.values() for k in s.components})
    columns = [
        *_HEAD,
        *(f"coverage_{s}" for s in streams),
        *(f"quality_{s}" for s in streams),
        *_SCORE,
        *components,
        *_TAIL,
    ]
    rows = []
    kinds: dict[str, str] = {}
    open_episode: str | None = None
    pending = deque(sorted(quality, key=lambda q: q.span_end_ns))
    for window in windows:
        while pending and pending[0].span_end_ns <= window.window_end_ns:
            report = pending.popleft()
            kinds[report.stream] = report.kind
        episode = episodes.get(window.event_id)
        if episode is not None and episode.phase == "start":
            open_episode = episode.episode_id
        row: dict[str, Cell] = {
            "window_start": iso_time(window.window_start_ns),
            "window_end": iso_time(window.window_end_ns),
            "window_start_ns": window.window_start_ns,
            "window_end_ns": window.window_end_ns,
            "window_id": window.event_id,
            **{name: getattr(window.features, name) for name in _FEATURE_KINDS},
            **{f"coverage_{s}": window.coverage.get(s) for s in streams},
            **{f"quality_{s}": kinds.get(s) for s in streams},
            **_score_cells(scores.get(window.event_id), components),
            "episode_id": open_episode if episode is None else episode.episode_id,
            "episode_phase": None if episode is None else episode.phase,
        }
        if episode is not None and episode.phase == "end":
            open_episode = None
        row["in_episode"] = open_episode is not None
        rows.append(row)
    return WindowTable(columns, rows, source=source, patient_id=patient_id)


def _score_cells(score: StressScore | None, components: list[str]) -> dict[str, Cell]:
    if score is None:
        return dict.fromkeys([*_SCORE, "method", *components])
    state = {"ok": "scored", "calibrating": "calibrating"}.get(score.quality, "refused")
    return {
        "score_quality": score.quality,
        "scorer_state": state,
        "refusal_reason": score.quality if state == "refused" else None,
        "stress_probability": score.score,
        "threshold": score.threshold,
        "method": score.method,
        **{name: score.components.get(name) for name in components},
    }
