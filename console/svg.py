"""The timeline as inline SVG, drawn on the server: stacked panels over one time axis.

Pure functions from numbers to markup, so a page needs no script and no external asset, and a
test can read the drawing as text. Every label is escaped; times are UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH = 960
PANEL_HEIGHT = 110
LEFT = 70
RIGHT = 20
TOP = 24
GAP = 26

#: Shading by kind of span; sessions are drawn last, over episodes and sleep.
BAND_FILLS = {"session": "#8fbc8f", "episode": "#f5b041", "sleep": "#aab7d4"}

_X = Callable[[int], float]  # time_ns -> horizontal pixel
_Y = Callable[[float], float]  # value -> vertical pixel


@dataclass(frozen=True, slots=True)
class Panel:
    """One measured quantity: its points, and optional step lines (a threshold) and markers."""

    title: str
    unit: str
    points: Sequence[tuple[int, float]]
    fixed_range: tuple[float, float] | None = None
    #: (label, [(from time_ns, value), ...]) drawn as a dashed step line.
    steps: Sequence[tuple[str, Sequence[tuple[int, float]]]] = ()
    #: (time_ns, value, link, label): a dot that links somewhere (a decision's "why").
    markers: Sequence[tuple[int, float, str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded span over every panel (a session), with its label."""

    start_ns: int
    end_ns: int
    label: str
    css_class: str = "session"


def utc(time_ns: int) -> str:
    """ISO 8601 in UTC to the second: ``2026-12-03T17:59:02Z``."""
    moment = dt.datetime.fromtimestamp(time_ns / 1e9, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_timeline(
    panels: Sequence[Panel], bands: Sequence[Band], start_ns: int, end_ns: int
) -> str:
    """The whole figure: ``<svg>`` with one panel per quantity and the bands behind them."""
    span = max(end_ns - start_ns, 1)
    plot_width = WIDTH - LEFT - RIGHT
    height = TOP + len(panels) * (PANEL_HEIGHT + GAP) + 20

    def x(time_ns: int) -> float:
        return LEFT + (time_ns - start_ns) / span * plot_width

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="timeline" class="timeline">'
    ]
    bottom = TOP + len(panels) * (PANEL_HEIGHT + GAP) - GAP
    for band in bands:
        left = max(x(band.start_ns), LEFT)
        right = min(x(max(band.end_ns, band.start_ns)), LEFT + plot_width)
        if right < LEFT or left > LEFT + plot_width:
            continue
        fill = BAND_FILLS.get(band.css_class, "#cccccc")
        label = band.css_class == "session"  # the others are named in the legend
        parts.append(
            f'<g class="{escape(band.css_class)}"><title>{escape(band.label)}</title>'
            f'<rect x="{left:.1f}" y="{TOP}" width="{max(right - left, 2):.1f}" '
            f'height="{bottom - TOP}" fill="{fill}" fill-opacity="0.35"/>'
            + (
                f'<text x="{left + 2:.1f}" y="{TOP - 6}" font-size="11">{escape(band.label)}</text>'
                if label
                else ""
            )
            + "</g>"
        )
    for index, panel in enumerate(panels):
        top = TOP + index * (PANEL_HEIGHT + GAP)
        parts.append(_panel(panel, top, x))
    parts.append(_time_axis(start_ns, end_ns, bottom, x))
    parts.append("</svg>")
    return "".join(parts)


def _panel(panel: Panel, top: int, x: _X) -> str:
    values = [v for _, v in panel.points] + [v for _, s in panel.steps for _, v in s]
    low, high = panel.fixed_range or ((min(values), max(values)) if values else (0.0, 1.0))
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0

    def y(value: float) -> float:
        return top + PANEL_HEIGHT - (value - low) / (high - low) * PANEL_HEIGHT

    title = f"{panel.title} ({panel.unit})" if panel.unit else panel.title
    out = [
        f'<g class="panel" data-title="{escape(panel.title)}">',
        f'<rect x="{LEFT}" y="{top}" width="{WIDTH - LEFT - RIGHT}" height="{PANEL_HEIGHT}" '
        'fill="none" stroke="#999"/>',
        f'<text x="{LEFT + 4}" y="{top + 13}" font-size="12" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<text x="{LEFT - 4}" y="{top + 10}" font-size="10" text-anchor="end">{high:.3g}</text>',
        f'<text x="{LEFT - 4}" y="{top + PANEL_HEIGHT}" font-size="10" text-anchor="end">'
        f"{low:.3g}</text>",
    ]
    if panel.points:
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in panel.points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1f4e79" stroke-width="1.5"/>')
    else:
        out.append(f'<text x="{LEFT + 4}" y="{top + 30}" font-size="11">no data in range</text>')
    for label, steps in panel.steps:
        out.append(_step_line(label, steps, x, y))
    for time_ns, value, link, label in panel.markers:
        out.append(
            f'<a href="{escape(link)}"><circle cx="{x(time_ns):.1f}" cy="{y(value):.1f}" r="4" '
            f'fill="#c0392b"><title>{escape(label)}</title></circle></a>'
        )
    out.append("</g>")
    return "".join(out)


def _step_line(label: str, steps: Sequence[tuple[int, float]], x: _X, y: _Y) -> str:
    """A dashed step line from each (time, value) to the next, and on to the right edge."""
    if not steps:
        return ""
    right = WIDTH - RIGHT
    points: list[str] = []
    for i, (time_ns, value) in enumerate(steps):
        start = max(x(time_ns), LEFT)
        end = min(x(steps[i + 1][0]), right) if i + 1 < len(steps) else right
        if end < LEFT or start > right:
            continue
        points += [f"{start:.1f},{y(value):.1f}", f"{end:.1f},{y(value):.1f}"]
    last = steps[-1][1]
    return (
        f'<g class="threshold"><title>{escape(label)}</title>'
        f'<polyline points="{" ".join(points)}" fill="none" stroke="#c0392b" '
        f'stroke-dasharray="6 4"/><text x="{right - 4}" y="{y(last) - 4:.1f}" font-size="10" '
        f'text-anchor="end">{escape(label)}</text></g>'
    )


def _time_axis(start_ns: int, end_ns: int, bottom: int, x: _X) -> str:
    ticks = 6
    out = ['<g class="axis">']
    for i in range(ticks + 1):
        time_ns = start_ns + (end_ns - start_ns) * i // ticks
        label = utc(time_ns)[11:16] if i else utc(time_ns)[:16].replace("T", " ")
        anchor = "start" if i == 0 else "end" if i == ticks else "middle"
        out.append(
            f'<text x="{x(time_ns):.1f}" y="{bottom + 14}" font-size="10" '
            f'text-anchor="{anchor}">{escape(label)}</text>'
        )
    out.append("</g>")
    return "".join(out)
