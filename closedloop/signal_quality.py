"""Is the signal good enough to act on? A loose strap must never trigger a session.

The gateway reports each stream's coverage (``ok``, ``degraded``, ``gap``) when it starts and
whenever the state changes (docs/pipeline.md), on the ``quality`` topic. The loop keeps the latest
report per stream and holds while any stream is poor, or, when the policy asks for it, while the
reports are too old to vouch for the moment.
"""

from __future__ import annotations

import msgspec

from stream.events import CoverageKind, PolicySnapshot, SignalQuality


class StreamQuality(msgspec.Struct, frozen=True, kw_only=True):
    """The latest signal-quality report of one stream (ecg, eda, acc, ...)."""

    kind: CoverageKind
    coverage: float
    reported_at_ns: int


def note_signal_quality(reports: dict[str, StreamQuality], report: SignalQuality) -> None:
    """Remember a stream's newest report; an older one arriving late changes nothing."""
    known = reports.get(report.stream)
    if known is not None and known.reported_at_ns > report.span_end_ns:
        return
    reports[report.stream] = StreamQuality(
        kind=report.kind, coverage=report.coverage, reported_at_ns=report.span_end_ns
    )


def signal_quality_hold(
    reports: dict[str, StreamQuality], policy: PolicySnapshot, now_ns: int
) -> str | None:
    """Why the signal cannot be trusted at ``now_ns`` (poor or stale), or ``None``.

    Poor: any stream's latest report is ``degraded`` or ``gap``; it stays poor until that stream
    reports ``ok`` again, however old the report. Stale: only when the policy sets
    ``signal_quality_max_age_s``: no report of any stream within that age, or none at all.
    Without it a patient whose gateway never reported is not held, because the bundled gateway
    reports on change only and a steady good signal is never re-reported.
    """
    poor = sorted((name, q) for name, q in reports.items() if q.kind != "ok")
    if poor:
        shown = ", ".join(f"{name} {q.kind} ({q.coverage:.0%} coverage)" for name, q in poor)
        return f"poor_signal: {shown}"
    max_age_s = policy.signal_quality_max_age_s
    if max_age_s is None:
        return None
    newest = max((q.reported_at_ns for q in reports.values()), default=None)
    if newest is None:
        return f"stale_signal: no signal-quality report yet (max age {max_age_s:g} s)"
    age_s = (now_ns - newest) / 1e9
    if age_s > max_age_s:
        return f"stale_signal: newest quality report is {age_s:g} s old (max {max_age_s:g} s)"
    return None
