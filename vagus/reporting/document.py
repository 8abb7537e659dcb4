"""The report as one self-contained HTML file: text, tables and PNG figures as data URIs.

No external file, script or font: the file can be mailed, archived or opened offline, and holds
nothing the reader's browser has to fetch. It contains a patient's physiology, so it is written
owner-only (0600) like the run directory it may come from.
"""

from __future__ import annotations

import base64
import html
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vagus import __version__
from vagus.config import VagusConfig
from vagus.reporting.data import NS, ReportData, Session, from_recording, from_run
from vagus.reporting.figures import Timeline, session_figure, timeline_figure

DISCLAIMER = (
    "vagus is research software, not a medical device; it does not diagnose or treat, and its "
    "stress estimates are probabilities with stated accuracy on named data sets."
)
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1180px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.disclaimer { background: #fff4e5; border-left: 4px solid #e07a5f; padding: 0.6em 1em; }
.problems { background: #fdecea; border-left: 4px solid #d62828; padding: 0.4em 1em; }
table { border-collapse: collapse; margin: 0.6em 0; }
td, th { padding: 0.25em 0.9em 0.25em 0; text-align: left; vertical-align: top; }
th { color: #555; font-weight: 600; }
img { max-width: 100%; }
figure { margin: 1.2em 0; } figcaption { color: #555; font-size: 0.9em; }
footer { margin-top: 3em; color: #777; font-size: 0.85em; }
"""


@dataclass(frozen=True, slots=True)
class Report:
    html: str
    figures: int
    #: None when the data had no window to draw.
    timeline: Timeline | None


@dataclass(frozen=True, slots=True)
class ReportResult:
    path: Path
    size_bytes: int
    figures: int
    windows: int
    sessions: int
    problems: list[str]
    timeline: Timeline | None


def load(source: Path, config: VagusConfig | None = None) -> ReportData:
    """A folder is a run directory, anything else a recording."""
    return from_run(source, config) if source.is_dir() else from_recording(source, config)


def write_report(source: Path, output: Path, config: VagusConfig | None = None) -> ReportResult:
    """Read ``source`` (a run directory or a recording) and write its report to ``output``."""
    data = load(source, config)
    report = build_report(data)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(report.html)
    return ReportResult(
        path=output,
        size_bytes=output.stat().st_size,
        figures=report.figures,
        windows=len(data.table.rows),
        sessions=len(data.sessions),
        problems=data.problems,
        timeline=report.timeline,
    )


def build_report(data: ReportData) -> Report:
    """The whole HTML page: header, problems, timeline, sessions and their panels."""
    timeline = timeline_figure(data) if data.table.rows else None
    figures = 0 if timeline is None else 1
    parts = [_header(data)]
    if data.problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in data.problems)
        parts.append(f'<div class="problems"><strong>Problems</strong><ul>{items}</ul></div>')
    parts += [f"<p>{html.escape(note)}</p>" for note in data.notes]
    parts.append("<h2>Timeline</h2>")
    if timeline is None:
        parts.append("<p>No window closed: the data is shorter than one feature window.</p>")
    else:
        alt = "Heart rate, RMSSD, SCR rate and stress probability over time"
        parts.append(_img(timeline.png, alt))
    if data.sessions:
        parts.append("<h2>Sessions</h2>" + _session_table(data.sessions))
        for session in data.sessions:
            if not session.ran or not data.table.rows:
                continue
            caption = (
                f"{html.escape(session.label)}. Medians (bars) and every window (dots): "
                "windows ending in the 5 min before the start, wholly inside the session, and "
                "ending 1 to 6 min after its end (the closed loop's own evaluation spans)."
            )
            alt = f"Before, during and after session {session.number}"
            parts.append(f"<figure>{_img(session_figure(data, session), alt)}")
            parts.append(f"<figcaption>{caption}</figcaption></figure>")
            figures += 1
    generated = datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<footer>vagus {__version__}, generated {generated}.</footer>")
    title = f"vagus report: {html.escape(data.source.name)}"
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    return Report(page, figures, timeline)


def _img(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def _clock(time_ns: int | None) -> str:
    if time_ns is None:
        return "-"
    return datetime.fromtimestamp(time_ns / NS, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _header(data: ReportData) -> str:
    rows = data.table.rows
    states = Counter(row["scorer_state"] for row in rows)
    span = data.span_ns
    duration = "-" if span is None else f"{(span[1] - span[0]) / NS / 60:.1f} min"
    outcomes = Counter(s.outcome for s in data.sessions)
    by_outcome = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    facts = [
        (data.kind, str(data.source)),
        ("patient (pseudonym)", data.patient_id or "-"),
        ("from", _clock(span[0]) if span else "-"),
        ("to", _clock(span[1]) if span else "-"),
        ("duration", duration),
        (
            "windows",
            f"{len(rows)} ({states['scored']} scored, {states['calibrating']} calibrating,"
            f" {states['refused']} refused for signal quality)",
        ),
        ("stress episodes", str(len(data.episodes()))),
        (
            "sessions",
            f"{len(data.sessions)} ({by_outcome})" if outcomes else "0",
        ),
        ("threshold drawn", data.threshold.source),
    ]
    table = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
    )
    return (
        f'<h1>vagus report</h1>\n<p class="disclaimer">{html.escape(DISCLAIMER)}</p>\n'
        f"<table>{table}</table>"
    )


def _session_table(sessions: list[Session]) -> str:
    head = "<tr><th>#</th><th>modality</th><th>outcome</th><th>requested</th><th>started</th>"
    head += "<th>ended</th><th>ran</th></tr>"
    lines = []
    for s in sessions:
        ran = "-"
        if s.start_ns is not None and s.end_ns is not None:
            ran = f"{(s.end_ns - s.start_ns) / NS / 60:.1f} min"
        cells = [
            f"S{s.number}",
            s.modality.replace("_", " "),
            s.outcome_text,
            _clock(s.requested_ns),
            _clock(s.start_ns),
            _clock(s.end_ns),
            ran,
        ]
        lines.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(lines)}</table>"
