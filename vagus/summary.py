"""The demo's figures: what was produced, what arrived, what the loop did, how fast.

Loss is counted by event id across processes: an event is lost if the broker acknowledged it to
its producer but the audit consumer never read it, or if it was meant for the closed loop (or the
device) and never reached it. Every event the gateway made is accounted for
(``gateway_events``): delivered (acknowledged by the broker), still spooled (on disk, waiting
for a broker) or evicted from a full spool.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hardware.devices import SimulatedDevice
from ingest.recording import ReadReport
from stream.consumer import EventConsumer
from stream.events import AnyEvent, LoopDecision, SessionEvaluation
from vagus.gateway import Gateway

NS = 1_000_000_000


@dataclass
class AuditLog:
    """Handler of the demo's independent consumer of every topic."""

    ids: set[str] = field(default_factory=set)
    repeated: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    evaluations: list[SessionEvaluation] = field(default_factory=list)
    #: Why the loop held, by reason (a demo without a session says which limit held it back).
    hold_reasons: Counter[str] = field(default_factory=Counter)
    #: Called with every event read (the demo's run folder keeps them for `vagus report`).
    sink: Callable[[AnyEvent], None] | None = None

    async def record(self, event: AnyEvent) -> None:
        if event.event_id in self.ids:
            self.repeated += 1
            return
        self.ids.add(event.event_id)
        if self.sink is not None:
            self.sink(event)
        if isinstance(event, SessionEvaluation):
            self.evaluations.append(event)
        elif isinstance(event, LoopDecision) and event.action == "hold":
            self.hold_reasons[event.hold_reason] += 1
        tag = type(event).__struct_config__.tag
        self.by_type[str(tag)] += 1


@dataclass
class WorkerStats:
    """The closed-loop worker's own account (its stats file)."""

    admitted: set[str] = field(default_factory=set)
    admitted_repeats: int = 0
    produced: dict[str, list[str]] = field(default_factory=dict)
    duplicates: int = 0
    dead_lettered: int = 0
    ready: bool = False

    @classmethod
    def read(cls, path: Path) -> WorkerStats:
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        admitted = list(raw.get("admitted_ids", []))
        return cls(
            admitted=set(admitted),
            admitted_repeats=len(admitted) - len(set(admitted)),
            produced=dict(raw.get("produced", {})),
            duplicates=int(raw.get("duplicates", 0)),
            dead_lettered=int(raw.get("dead_lettered", 0)),
            ready=bool(raw.get("ready", False)),
        )

    def produced_ids(self) -> set[str]:
        return {event_id for ids in self.produced.values() for event_id in ids}


def pacer_summary(pacer: SimulatedDevice) -> dict[str, Any]:
    """What the simulated pacer cued: breaths, and the inhale/exhale lengths it showed."""
    inhales = [t for t, phase in pacer.phases if phase == "inhale"]
    exhales = [t for t, phase in pacer.phases if phase == "exhale"]
    if not inhales or not exhales:
        return {"breaths": 0}
    inhale_s = (exhales[0] - inhales[0]) / NS
    period_s = (inhales[1] - inhales[0]) / NS if len(inhales) > 1 else None
    return {
        "breaths": len(inhales),
        "inhale_s": round(inhale_s, 2),
        "exhale_s": None if period_s is None else round(period_s - inhale_s, 2),
        "breaths_per_min": None if period_s is None else round(60 / period_s, 2),
    }


def percentiles(values: Collection[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return {
        "p50": round(float(p50), 2),
        "p95": round(float(p95), 2),
        "p99": round(float(p99), 2),
        "n": len(values),
    }


DemoSummary = dict[str, Any]


def build_summary(
    *,
    gateway: Gateway,
    audit: AuditLog,
    auditor: EventConsumer,
    worker: WorkerStats,
    recording: Path,
    read_report: ReadReport,
    speed: str,
    broker: str,
    wall_s: float,
) -> DemoSummary:
    stats = gateway.stats
    topics = gateway.producer.settings.topics
    loop_inputs = gateway.ledger.ids({topics.name(t) for t in ("stress", "outcomes", "sleep")})
    produced = gateway.ledger.ids() | worker.produced_ids()
    commands_sent = set(worker.produced.get(topics.name("commands"), []))
    lost = (
        (produced - audit.ids)
        | (loop_inputs - worker.admitted)
        | (commands_sent - set(stats.handled_command_ids))
    )
    phases = sorted(
        (m.gateway_time_ns, m.label.removeprefix("phase:"))
        for m in stats.markers
        if m.label.startswith("phase:")
    )

    def phase_at(time_ns: int) -> str:
        current = "unlabelled"
        for start, name in phases:
            if start <= time_ns:
                current = name
        return current

    spool = gateway.producer.spool
    spooled = len(spool)
    starts = [o for o in stats.outcomes if o.status == "started"]
    start_phases = Counter(phase_at(o.gateway_time_ns) for o in starts)
    origin = phases[0][0] if phases else 0
    handled = stats.handled_command_ids
    return {
        "recording": str(recording),
        "speed": speed,
        "broker": broker,
        "wall_s": round(wall_s, 2),
        "notifications": stats.notifications,
        "decode_errors": sum(stats.decode_errors.values()),
        "recording_intact": read_report.intact,
        "windows": gateway.pipeline.counters.windows,
        "scored_windows": gateway.pipeline.counters.scored,
        "stress_episodes": gateway.pipeline.counters.episodes,
        "stress_scorer": gateway.pipeline.method,
        "decisions": stats.decisions,
        "commands": len(stats.commands_received),
        "sessions_started": len(starts),
        "sessions_completed": sum(o.status == "completed" for o in stats.outcomes),
        "sessions_rejected": sum(o.status == "rejected" for o in stats.outcomes),
        "rejections": [
            {
                "at_s": round((o.gateway_time_ns - origin) / NS, 1),
                "command_id": o.command_id,
                "reason": o.detail,
            }
            for o in stats.outcomes
            if o.status == "rejected"
        ],
        "sessions_aborted": [
            {"command_id": o.command_id, "detail": o.detail}
            for o in stats.outcomes
            if o.status == "aborted"
        ],
        "hold_reasons": dict(audit.hold_reasons.most_common()),
        "sessions_in_baseline": start_phases.get("baseline", 0),
        "sessions_by_phase": dict(start_phases),
        "sessions": [
            {
                "started_at_s": round((o.gateway_time_ns - origin) / NS, 1),
                "phase": phase_at(o.gateway_time_ns),
                "command_id": o.command_id,
            }
            for o in starts
        ],
        "session_evaluations": [
            {"command_id": e.command_id, "outcome": e.outcome}
            | {k: round(v, 3) for k, v in sorted(e.metrics.items())}
            for e in audit.evaluations
        ],
        "events_produced": len(produced),
        "events_consumed": len(produced & audit.ids),
        "events_lost": len(lost),
        "events_spooled": spooled,
        "gateway_events": {
            "made": spool.appended,
            "delivered": gateway.producer.delivered,
            "spooled": spooled,
            "evicted": spool.stats.evicted,
        },
        "spool_dir": str(spool.directory) if spooled else None,
        "duplicates_dropped": auditor.counters.duplicates
        + gateway.commands.counters.duplicates
        + worker.duplicates,
        "duplicates_after_dedupe": audit.repeated
        + worker.admitted_repeats
        + (len(handled) - len(set(handled))),
        "dead_letters": auditor.counters.dead_lettered + worker.dead_lettered,
        "events_by_type": dict(sorted(audit.by_type.items())),
        "latency_ms": percentiles(stats.command_latency_ms),
        "decision_latency_ms": percentiles(stats.decision_latency_ms),
        "lockstep_timeouts": stats.lockstep_timeouts,
        "lockstep_skipped": stats.lockstep_skipped,
    }


def not_started_summary(
    *, recording: Path, speed: str, broker: str, wall_s: float, interrupted: str
) -> DemoSummary:
    """The summary of a run stopped by a signal before its replay began: nothing was made, so
    every count is zero, and it says which signal."""
    nothing = percentiles([])
    counts = [
        "notifications",
        "decode_errors",
        "windows",
        "scored_windows",
        "stress_episodes",
        "decisions",
        "commands",
        "sessions_started",
        "sessions_completed",
        "sessions_rejected",
        "sessions_in_baseline",
        "events_produced",
        "events_consumed",
        "events_lost",
        "events_spooled",
        "duplicates_dropped",
        "duplicates_after_dedupe",
        "dead_letters",
        "lockstep_timeouts",
        "lockstep_skipped",
    ]
    return dict.fromkeys(counts, 0) | {
        "recording": str(recording),
        "speed": speed,
        "broker": broker,
        "wall_s": round(wall_s, 2),
        "recording_intact": None,
        "stress_scorer": None,
        "rejections": [],
        "sessions_aborted": [],
        "hold_reasons": {},
        "sessions_by_phase": {},
        "sessions": [],
        "session_evaluations": [],
        "gateway_events": {"made": 0, "delivered": 0, "spooled": 0, "evicted": 0},
        "spool_dir": None,
        "events_by_type": {},
        "latency_ms": nothing,
        "decision_latency_ms": nothing,
        "completed": False,
        "interrupted": interrupted,
        "worker_died": None,
        "broker_died": None,
    }


def demo_problems(summary: DemoSummary) -> list[str]:
    """Why a demo run did not show what it exists to show; empty when it did.

    A demo that started no session, had a command refused or lost an event must say so and
    fail, never print a reassuring line.
    """
    problems = _run_problems(summary)
    if summary["sessions_started"] == 0:
        holds = summary.get("hold_reasons") or {}
        if summary["stress_episodes"] == 0:
            why = "no stress episode was detected"
        elif holds:
            why = "the loop held: " + "; ".join(f"{r} ({n}x)" for r, n in holds.items())
        else:
            why = "the loop decided nothing"
        problems.append(f"no session started: {why}")
    problems += [
        f"command rejected at {r['at_s']} s into the recording: {r['reason']}"
        for r in summary.get("rejections", [])
    ]
    if summary["sessions_in_baseline"]:
        problems.append(f"{summary['sessions_in_baseline']} session(s) in the calm baseline")
    if summary["events_lost"]:
        if summary.get("interrupted"):
            problems.append(f"{summary['events_lost']} event(s) not confirmed before the stop")
        else:
            problems.append(f"{summary['events_lost']} event(s) lost")
    if summary.get("events_spooled"):
        problems.append(
            f"{summary['events_spooled']} event(s) never reached the broker; they wait in "
            f"{summary['spool_dir']}"
        )
    return problems


def _run_problems(summary: DemoSummary) -> list[str]:
    """A run that did not reach the end of its recording: which child died, or which signal."""
    problems = []
    worker = summary.get("worker_died")
    if worker:
        problems.append(
            f"the closed-loop worker died (exit status {worker['exit_status']}): {worker['reason']}"
        )
    broker = summary.get("broker_died")
    if broker:
        status = broker["exit_status"]
        if summary.get("broker") == "embedded":
            problems.append(
                f"the embedded broker exited (status {status}) during the run; "
                "what it held is gone (memory storage)"
            )
        else:  # a local Apache Kafka: its storage is a temporary folder, removed at the end
            problems.append(
                f"the broker ({summary.get('broker')}) exited (status {status}) during the run"
            )
    if summary.get("interrupted"):
        problems.append(f"interrupted by {summary['interrupted']} before the end of the recording")
    return problems
