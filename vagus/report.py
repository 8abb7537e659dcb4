"""The demo summary as a person reads it."""

from __future__ import annotations

from typing import Any

from vagus.summary import demo_problems


def _ms(latency: dict[str, Any]) -> str:
    if not latency.get("n"):
        return "no samples"
    return (
        f"p50 {latency['p50']} ms, p95 {latency['p95']} ms, p99 {latency['p99']} ms"
        f" (n={latency['n']})"
    )


def _triple(evaluation: dict[str, Any], key: str) -> str:
    values = [evaluation.get(f"{key}_{span}") for span in ("before", "during", "after")]
    return " / ".join("-" if v is None else f"{v:.3g}" for v in values)


_LEVELS = " .:-=+*#"


def _breath_sketch(pacer: dict[str, Any]) -> str:
    """Two breaths of the pacer's cue as a text bar: rising on the inhale, falling on the exhale."""
    inhale, exhale = float(pacer["inhale_s"]), float(pacer["exhale_s"])
    period = inhale + exhale
    cells = []
    for i in range(40):
        t = (i / 20) * period % period
        level = t / inhale if t < inhale else 1 - (t - inhale) / exhale
        cells.append(_LEVELS[round(level * (len(_LEVELS) - 1))])
    return "[" + "".join(cells) + "]"


def render_summary(summary: dict[str, Any]) -> str:
    sessions = summary["sessions"]
    lines = [
        "vagus demo: SIMULATED recording, research software, not a medical device",
        f"  recording       {summary['recording']}",
        f"  broker          {summary['broker']}   speed {summary['speed']}"
        f"   wall {summary['wall_s']} s",
        f"  notifications   {summary['notifications']}   decode errors {summary['decode_errors']}",
        f"  windows         {summary['windows']} ({summary['scored_windows']} scored)"
        f"   stress episodes {summary['stress_episodes']} (scorer {summary['stress_scorer']})",
        f"  sessions        started {summary['sessions_started']}"
        f", completed {summary['sessions_completed']}"
        f", rejected {summary['sessions_rejected']}"
        f", in baseline {summary['sessions_in_baseline']}",
    ]
    lines += [
        f"    - at {s['started_at_s']:.0f} s into the recording, phase {s['phase']}"
        for s in sessions
    ]
    lines += [
        f"    - rejected at {r['at_s']:.0f} s: {r['reason']}" for r in summary.get("rejections", [])
    ]
    lines += [f"    - {a['detail']}" for a in summary.get("sessions_aborted", [])]
    for evaluation in summary.get("session_evaluations", []):
        lines.append(
            "    response (median before / during / after): "
            + ", ".join(
                f"{label} {_triple(evaluation, key)}"
                for label, key in (
                    ("RMSSD ms", "rmssd_ms"),
                    ("HR bpm", "heart_rate_bpm"),
                    ("stress", "stress_score"),
                )
            )
        )
    pacer = summary.get("pacer", {})
    if pacer.get("breaths"):
        lines.append(
            f"    pacer: {pacer['breaths']} breaths at {pacer['breaths_per_min']}/min "
            f"(inhale {pacer['inhale_s']} s, exhale {pacer['exhale_s']} s)  {_breath_sketch(pacer)}"
        )
    for path in summary.get("vibroacoustic_files", []):
        lines.append(f"    vibroacoustic rendering: {path}")
    lines += [
        f"  events          produced {summary['events_produced']}"
        f", consumed {summary['events_consumed']}, lost {summary['events_lost']}"
        f", spooled {summary.get('events_spooled', 0)}",
        f"  duplicates      dropped by dedupe {summary['duplicates_dropped']}"
        f", after dedupe {summary['duplicates_after_dedupe']}"
        f"   dead letters {summary['dead_letters']}",
        f"  latency         window end -> device: {_ms(summary['latency_ms'])}",
        f"                  window end -> loop decision: {_ms(summary['decision_latency_ms'])}",
    ]
    if summary.get("speed") == "max" and summary["latency_ms"].get("n"):
        lines.append(
            "                  (at --speed max the gateway runs ahead of the closed loop between"
            " episodes, so these include the loop's backlog; the default 60x measures the path)"
        )
    if summary.get("recording_time_held_s"):
        lines.append(
            f"  replay clock    held {summary['recording_time_held_s']} s of recording time"
            " (waiting for decisions, or for a host behind the pace; events unaffected)"
        )
    for label, key in (("report", "report"), ("log", "log_file"), ("events", "events_file")):
        if summary.get(key):
            lines.append(f"  {label:<15} {summary[key]}")
    problems = demo_problems(summary)
    if problems:
        lines += [f"  FAILED: {problem}" for problem in problems]
    else:
        phases = ", ".join(f"{n} in {p}" for p, n in summary["sessions_by_phase"].items())
        lines.append(
            f"  OK: {summary['sessions_started']} session(s) started ({phases}), none in the"
            " baseline, none rejected, nothing lost"
        )
    return "\n".join(lines)
