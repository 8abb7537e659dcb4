"""The report's pictures as PNG bytes: one timeline, one before/during/after panel per session.

matplotlib is imported inside the functions only, on an Agg canvas without pyplot (no global
figure state, no display needed), so `vagus --help`, the gateway and the analysis never load it.
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from vagus.analysis import Cell
from vagus.reporting.data import NS, SPANS, ReportData, Session, session_spans

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Row = Mapping[str, Cell]
#: (column, axis label) of the timeline's signal panels; the stress panel comes last.
SIGNAL_PANELS = (
    ("heart_rate_bpm", "heart rate\n(bpm)"),
    ("rmssd_ms", "RMSSD\n(ms)"),
    ("scr_rate_per_min", "SCR rate\n(per min)"),
)
SESSION_METRICS = (
    ("heart_rate_bpm", "heart rate (bpm)"),
    ("rmssd_ms", "RMSSD (ms)"),
    ("stress_probability", "stress probability"),
)
EPISODE_COLOUR = "#e07a5f"
SESSION_COLOUR = "#3d9970"
NOT_RUN_COLOUR = "#555555"
SIGNAL_COLOUR = "#264653"
THRESHOLD_COLOUR = "#b5179e"
SPAN_COLOURS = {"before": "#8d99ae", "during": SESSION_COLOUR, "after": "#457b9d"}


@dataclass(frozen=True, slots=True)
class Timeline:
    png: bytes
    #: The time range the axes actually show, read back from them (gateway Unix ns).
    x_range_ns: tuple[int, int]


@dataclass(frozen=True, slots=True)
class ElapsedAxis:
    """Time as minutes (hours past three) since the first window started: plain floats, which
    read well for a session and keep matplotlib's untyped date machinery out."""

    origin_ns: int
    unit_s: float

    @classmethod
    def over(cls, span: tuple[int, int]) -> ElapsedAxis:
        return cls(span[0], 3600.0 if span[1] - span[0] > 3 * 3600 * NS else 60.0)

    def x(self, time_ns: int) -> float:
        return (time_ns - self.origin_ns) / NS / self.unit_s

    def ns(self, x: float) -> int:
        return self.origin_ns + round(x * self.unit_s * NS)

    def end(self, row: Row) -> float:
        end = row["window_end_ns"]
        assert isinstance(end, int)
        return self.x(end)

    def series(self, rows: Sequence[Row], column: str) -> tuple[list[float], list[float]]:
        """The windows where ``column`` has a number: their end times and the values."""
        numbered = [(row, value) for row in rows if isinstance(value := row[column], int | float)]
        return [self.end(row) for row, _ in numbered], [float(value) for _, value in numbered]

    @property
    def label(self) -> str:
        start = datetime.fromtimestamp(self.origin_ns / NS, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        unit = "hours" if self.unit_s == 3600.0 else "minutes"
        return f"{unit} since {start} UTC (each window drawn at its end)"


def _figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(width_in, height_in), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def timeline_figure(data: ReportData) -> Timeline:
    """Signals, stress probability and threshold over the whole run; episodes and sessions
    shaded across every panel, each session labelled with its modality and outcome."""
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    span = data.span_ns
    if span is None:
        raise ValueError("a timeline needs at least one window")
    axis = ElapsedAxis.over(span)
    figure = _figure(11.0, 8.0)
    axes = figure.subplots(4, 1, sharex=True, height_ratios=[1, 1, 1, 1.4])
    for ax, (column, label) in zip(axes, SIGNAL_PANELS, strict=False):
        times, values = axis.series(data.table.rows, column)
        ax.plot(times, values, color=SIGNAL_COLOUR, lw=1.2, marker=".", ms=3)
        ax.set_ylabel(label)
    stress = axes[-1]
    _stress_panel(stress, data, axis, span)
    for ax in axes:
        ax.grid(alpha=0.25)
        for episode in data.episodes():
            start, end = axis.x(episode.start_ns), axis.x(episode.end_ns)
            ax.axvspan(start, end, color=EPISODE_COLOUR, alpha=0.22, lw=0)
        for session in data.sessions:
            _mark_session(ax, session, axis, span)
    for index, session in enumerate(data.sessions):
        axes[0].annotate(
            session.label,
            xy=(axis.x(session.start_ns or session.requested_ns), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 3 + 11 * (index % 3)),  # staggered, so neighbours do not overprint
            textcoords="offset points",
            fontsize=7.5,
            color=SESSION_COLOUR if session.ran else NOT_RUN_COLOUR,
        )
    stress.set_xlim(axis.x(span[0]), axis.x(span[1]))
    stress.set_xlabel(axis.label)
    states = {row["scorer_state"] for row in data.table.rows}
    shown = {
        "episode": bool(data.episodes()),
        "ran": any(s.ran for s in data.sessions),
        "not run": any(not s.ran for s in data.sessions),
        "threshold": True,
        "calibrating": "calibrating" in states,
        "refused": "refused" in states,
    }
    handles = [
        Patch(color=EPISODE_COLOUR, alpha=0.4, label="stress episode"),
        Patch(color=SESSION_COLOUR, alpha=0.4, label="session (ran)"),
        Line2D([], [], color=NOT_RUN_COLOUR, ls=":", label="session requested, not run"),
        Line2D([], [], color=THRESHOLD_COLOUR, ls="--", label=data.threshold.source),
        Line2D([], [], color="#999999", marker="|", ls="", label="calibrating (not scored)"),
        Line2D([], [], color="#d62828", marker="x", ls="", label="refused (signal quality)"),
    ]
    handles = [h for h, wanted in zip(handles, shown.values(), strict=True) if wanted]
    figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    low, high = stress.get_xlim()
    return Timeline(_png(figure), (axis.ns(low), axis.ns(high)))


def _stress_panel(ax: Axes, data: ReportData, axis: ElapsedAxis, span: tuple[int, int]) -> None:
    rows = data.table.rows
    scored = [row for row in rows if row["scorer_state"] == "scored"]
    times, values = axis.series(scored, "stress_probability")
    ax.plot(times, values, color=SIGNAL_COLOUR, lw=1.2, marker=".", ms=3)
    for state, colour, marker in (("calibrating", "#999999", "|"), ("refused", "#d62828", "x")):
        marked = [axis.end(row) for row in rows if row["scorer_state"] == state]
        ax.plot(marked, [0.03] * len(marked), ls="", marker=marker, color=colour, ms=5)
    # The first value was in force before it was first reported (scores carry it only once
    # scored; a policy is set before the run), so it is drawn from the start.
    known = data.threshold.steps
    in_force = [value for time_ns, value in known if time_ns <= span[0]] or [known[0][1]]
    steps = [(span[0], in_force[-1]), *[(t, v) for t, v in known if span[0] < t < span[1]]]
    xs = [axis.x(time_ns) for time_ns, _ in steps] + [axis.x(span[1])]
    ys = [value for _, value in steps] + [steps[-1][1]]
    ax.step(xs, ys, where="post", color=THRESHOLD_COLOUR, ls="--", lw=1.2)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("stress\nprobability")


def _mark_session(ax: Axes, session: Session, axis: ElapsedAxis, span: tuple[int, int]) -> None:
    if session.start_ns is None:
        ax.axvline(axis.x(session.requested_ns), color=NOT_RUN_COLOUR, ls=":", lw=1.2)
        return
    end = session.end_ns if session.end_ns is not None else span[1]
    ax.axvspan(axis.x(session.start_ns), axis.x(end), color=SESSION_COLOUR, alpha=0.3, lw=0)


def session_figure(data: ReportData, session: Session) -> bytes:
    """Heart rate, RMSSD and stress probability before, during and after one session that ran:
    the median as a bar, every window as a dot."""
    spans = session_spans(data, session)
    figure = _figure(9.0, 2.8)
    axes = figure.subplots(1, len(SESSION_METRICS))
    for ax, (column, label) in zip(axes, SESSION_METRICS, strict=True):
        for position, name in enumerate(SPANS):
            values = [float(v) for row in spans[name] if isinstance(v := row[column], int | float)]
            if not values:
                where = ax.get_xaxis_transform()
                ax.text(position, 0.5, "no\nwindow", ha="center", va="center", transform=where)
                continue
            ax.bar(position, statistics.median(values), color=SPAN_COLOURS[name], alpha=0.55)
            ax.plot(_spread(position, len(values)), values, ls="", marker=".", color="#1d3557")
        ax.set_xticks(range(len(SPANS)), [f"{n}\n({len(spans[n])})" for n in SPANS], fontsize=8)
        ax.set_xlim(-0.6, len(SPANS) - 0.4)
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.25)
        if column == "stress_probability":
            ax.set_ylim(0, 1)
    figure.suptitle(session.label, fontsize=10)
    return _png(figure)


def _spread(position: int, count: int) -> list[float]:
    """Dots side by side across the bar (deterministic, unlike jitter)."""
    if count == 1:
        return [float(position)]
    return [position - 0.3 + 0.6 * i / (count - 1) for i in range(count)]
