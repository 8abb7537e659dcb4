"""What a report shows, gathered from a recording (analysed afresh) or a run directory.

Both inputs end in the same :class:`ReportData`: the window table of vagus.analysis, the
sessions the closed loop ran (none for a bare recording), the decision threshold over time and
what went wrong on the way in. The figures and the HTML only read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from closedloop.evaluation import AFTER_S, AFTER_SKIP_S, BEFORE_S
from stream.events import InterventionCommand, InterventionOutcome, PolicyVersion, StressScore
from vagus.analysis import Cell, WindowTable, analyze_recording, window_table
from vagus.config import VagusConfig
from vagus.run_dir import read_run

NS = 1_000_000_000
_FINAL = ("completed", "aborted", "failed", "rejected")
NO_SESSIONS_IN_RECORDING = (
    "A recording holds no closed-loop sessions: this report shows the gateway's windows, scores "
    "and episodes only. Report on a run directory (written by the demo) to see sessions."
)


@dataclass(frozen=True, slots=True)
class Session:
    """One start command's fate, from its outcome events (times are gateway ns)."""

    number: int
    command_id: str
    modality: str
    #: completed / aborted / failed / rejected, or "running" / "requested" if the run ended first.
    outcome: str
    requested_ns: int
    start_ns: int | None
    end_ns: int | None
    #: Why it was rejected or failed, or who aborted it, as the device reported it.
    detail: str = ""

    @property
    def ran(self) -> bool:
        return self.start_ns is not None

    @property
    def outcome_text(self) -> str:
        if self.outcome == "aborted":
            return f"aborted {self.detail}" if self.detail else "aborted (by whom: not reported)"
        if self.outcome in {"rejected", "failed"} and self.detail:
            return f"{self.outcome}: {self.detail}"
        return self.outcome

    @property
    def label(self) -> str:
        return f"S{self.number} {self.modality.replace('_', ' ')}: {self.outcome_text}"


@dataclass(frozen=True, slots=True)
class Threshold:
    """The threshold drawn on the stress panel: (time, value) steps and where they came from."""

    steps: list[tuple[int, float]]
    source: str


@dataclass(frozen=True, slots=True)
class Episode:
    episode_id: str
    start_ns: int
    end_ns: int
    #: Still open when the data ended.
    open: bool


@dataclass
class ReportData:
    source: Path
    kind: Literal["recording", "run directory"]
    table: WindowTable
    sessions: list[Session]
    threshold: Threshold
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def patient_id(self) -> str:
        return self.table.patient_id

    @property
    def span_ns(self) -> tuple[int, int] | None:
        """First window start to last window end, or None without windows."""
        if not self.table.rows:
            return None
        return _int(self.table.rows[0]["window_start_ns"]), _int(
            self.table.rows[-1]["window_end_ns"]
        )

    def episodes(self) -> list[Episode]:
        """Each episode from its start window's end to its end window's end (or the data's)."""
        spans: dict[str, list[int]] = {}
        for row in self.table.rows:
            episode_id = row["episode_id"]
            if isinstance(episode_id, str):
                spans.setdefault(episode_id, []).append(_int(row["window_end_ns"]))
        ended = {r["episode_id"] for r in self.table.rows if r["episode_phase"] == "end"}
        return [
            Episode(episode_id, times[0], times[-1], open=episode_id not in ended)
            for episode_id, times in spans.items()
        ]


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def from_recording(path: Path, config: VagusConfig | None = None) -> ReportData:
    """Analyse ``path`` with the gateway's pipeline (raises OSError / RecordingError)."""
    config = config if config is not None else VagusConfig()
    table = analyze_recording(path, config)
    scores = [(_int(row["window_end_ns"]), row["threshold"]) for row in table.rows]
    return ReportData(
        source=path,
        kind="recording",
        table=table,
        sessions=[],
        threshold=_threshold([], [], scores, config),
        problems=list(table.notes),
        notes=[NO_SESSIONS_IN_RECORDING],
    )


def from_run(path: Path, config: VagusConfig | None = None) -> ReportData:
    """Read a run directory (raises :class:`vagus.run_dir.RunDirError`)."""
    config = config if config is not None else VagusConfig()
    run = read_run(path)
    table = window_table(run.events, source=str(path), patient_id=run.patient_id)
    problems = list(run.problems)
    if run.bad_lines:
        problems.append(
            f"{run.bad_lines} line(s) of events.jsonl could not be read and are left out, the"
            f" first at line {run.first_bad_line} ({run.first_bad_reason})"
        )
    scores = [(s.window_end_ns, s.threshold) for s in run.of(StressScore)]
    sessions = sessions_from(run.of(InterventionCommand), run.of(InterventionOutcome))
    return ReportData(
        source=path,
        kind="run directory",
        table=table,
        sessions=sessions,
        threshold=_threshold(run.of(PolicyVersion), run.of(InterventionCommand), scores, config),
        problems=problems,
        notes=[] if sessions else ["The closed loop started no session during this run."],
    )


def sessions_from(
    commands: list[InterventionCommand], outcomes: list[InterventionOutcome]
) -> list[Session]:
    """One session per start command (or per command id the outcomes name), in time order."""
    by_command: dict[str, list[InterventionOutcome]] = {}
    for outcome in sorted(outcomes, key=lambda o: o.gateway_time_ns):
        by_command.setdefault(outcome.command_id, []).append(outcome)
    requested = {c.event_id: c for c in commands if c.action == "start"}
    ids = sorted(
        set(requested) | set(by_command),
        key=lambda i: (
            requested[i].gateway_time_ns if i in requested else by_command[i][0].gateway_time_ns
        ),
    )
    sessions = []
    for number, command_id in enumerate(ids, start=1):
        steps = by_command.get(command_id, [])
        command = requested.get(command_id)
        first = command.gateway_time_ns if command is not None else steps[0].gateway_time_ns
        started = next((o for o in steps if o.status == "started"), None)
        final = next((o for o in reversed(steps) if o.status in _FINAL), None)
        status = final.status if final else ("running" if started else "requested")
        modality = steps[0].modality if steps else command.modality if command else "unknown"
        sessions.append(
            Session(
                number=number,
                command_id=command_id,
                modality=modality,
                outcome=status,
                requested_ns=first,
                start_ns=started.gateway_time_ns if started else None,
                end_ns=final.gateway_time_ns if final and started else None,
                detail=final.detail if final else "",
            )
        )
    return sessions


def _threshold(
    policies: list[PolicyVersion],
    commands: list[InterventionCommand],
    scores: Sequence[tuple[int, object]],
    config: VagusConfig,
) -> Threshold:
    """The policy's threshold if the run says; else the patient's threshold the scores carry;
    else the one the scorer would use with this configuration."""
    if policies:
        steps = [(p.gateway_time_ns, p.policy.score_threshold) for p in policies]
        versions = ", ".join(f"v{p.version}" for p in policies)
        return Threshold(_changes(steps), f"policy threshold ({versions})")
    decided = [
        (c.gateway_time_ns, c.reason.values["threshold"])
        for c in commands
        if "threshold" in c.reason.values
    ]
    if decided:
        return Threshold(_changes(decided), "policy threshold (from the loop's decisions)")
    scored = [(t, v) for t, v in scores if isinstance(v, float)]
    if scored:
        return Threshold(_changes(scored), "the patient's episode threshold (stress scores)")
    from vagus.scoring import StressScorer  # noqa: PLC0415 - loads the model: only when needed

    scorer = StressScorer(settings=config.stress_model)
    return Threshold([(0, scorer.calibration.threshold)], "the stress model's threshold")


def _changes(steps: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Only the steps where the value changes, in time order."""
    kept: list[tuple[int, float]] = []
    for time_ns, value in sorted(steps):
        if not kept or kept[-1][1] != value:
            kept.append((time_ns, value))
    return kept


SPANS = ("before", "during", "after")


def session_spans(data: ReportData, session: Session) -> dict[str, list[dict[str, Cell]]]:
    """The windows before, during and after a session that ran, on the closed loop's own spans
    (closedloop.evaluation: 5 min before; wholly inside; 1 to 6 min after), ends inclusive."""
    assert session.start_ns is not None
    span = data.span_ns
    start = session.start_ns
    stop = session.end_ns if session.end_ns is not None else span[1] if span else start
    first = data.table.rows[0]
    length = _int(first["window_end_ns"]) - _int(first["window_start_ns"])
    bounds = {
        "before": (start - int(BEFORE_S * NS), start),
        "during": (start + length, stop),
        "after": (stop + int(AFTER_SKIP_S * NS), stop + int(AFTER_S * NS)),
    }
    return {
        name: [r for r in data.table.rows if low <= _int(r["window_end_ns"]) <= high]
        for name, (low, high) in bounds.items()
    }
