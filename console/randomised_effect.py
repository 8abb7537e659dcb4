"""The causal effect of a session for one patient, from the closed loop's micro-randomisation.

Why: the effectiveness table (console.effect) compares after with before each session, and a
session starts when stress is high, so recovery that would have come anyway counts as effect.
Where the policy's ``randomisation_probability`` is above 0 the loop leaves an eligible moment
without a session at random and logs "micro-randomised to no session" (closedloop.decision).
At such moments only the coin decides, so the mean change after sessions (treated) minus the
mean change after the moments held back (control) estimates what a session adds, for this
patient.

* Treated: a ``start_session`` decision whose policy version randomised, with the change from
  its ``session_evaluation``. A version randomised when its policy (policy log; version 0 is
  the console's configured default, as on the "why" page) has p > 0, or when a
  micro-randomised hold ran under it. A version the console has no policy for and no such hold
  is left out and counted (``unknown_policy``). A session started under p = 0 never faced the
  coin and does not count.
* Control: a micro-randomised hold, with the change the evaluator computes
  (closedloop.evaluation, its span constants imported): the median of each metric's stored
  measurements in [t - BEFORE_S, t] subtracted from the median in
  [end + AFTER_SKIP_S, end + AFTER_S], bounds included; t is the decision time and end is t
  plus the session duration of the decision's policy version, so the after span lies where a
  session's would have been and both arms are measured at the same delay after the decision.
  A measurement's time is its event's gateway time, which the pipeline sets to the window end
  (vagus/pipeline.py), the time the evaluator uses.
* Estimate: difference of means with a 95 % Welch interval (Welch-Satterthwaite df; the t
  quantile from console.effect's table, interpolated in 1/df between whole df); no
  interval with fewer than 2 points on either side.

Assumed, not checked: decision points are independent; no carry-over from an earlier session
into a later point's spans; a treated session's own start and end (the evaluator's spans)
differ from the decision only by the command's latency and, for an aborted session, its early
end. A point without a value (a session never evaluated: failed, rejected, still running; a
control without data in a span) is left out, which biases the estimate if what goes missing
depends on the arm. Per modality, that modality's sessions are compared with every control
point: the bandit picks the modality after the coin, from past outcomes, so modalities are not
randomised against each other.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from closedloop.evaluation import AFTER_S, AFTER_SKIP_S, BEFORE_S, NS
from closedloop.policy_log import PolicyLog
from console import queries
from console.db import Database
from console.effect import t_975
from console.policies import policy_at, policy_log
from stream.events import PolicySnapshot

ALL_MODALITIES = "all modalities"
#: A modality gets its own rows only with at least this many sessions (and controls).
MIN_PER_MODALITY = 2


@dataclass(frozen=True, slots=True)
class Welch:
    """Treated minus control mean, its 95 % interval and the Welch-Satterthwaite df."""

    estimate: float
    low: float
    high: float
    df: float


@dataclass(frozen=True, slots=True)
class Difference:
    """One metric's mean change with and without a session (one modality, or all)."""

    modality: str
    metric: str
    n_treated: int
    n_control: int
    mean_treated: float | None
    mean_control: float | None
    estimate: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """A patient's randomised decision points and the estimates drawn from them."""

    treated_points: int
    control_points: int
    unknown_policy: int
    differences: list[Difference]

    @property
    def ran(self) -> bool:
        """Whether any decision point of this patient faced the coin."""
        return self.treated_points + self.control_points > 0


def t_975_real(df: float) -> float:
    """t(0.975, df) for a fractional df: log t as a cubic in 1/df through the four nearest
    whole df of console.effect's quantile.

    Within 0.03 % of the exact quantile from df 1 on (about the table's own rounding);
    tests/console/test_randomised_effect.py checks it against scipy.
    """
    if df < 1:
        raise ValueError("a t quantile needs at least one degree of freedom")
    if df == math.floor(df):
        return t_975(int(df))
    first = max(1, math.floor(df) - 1)
    nodes = [(1 / k, math.log(t_975(k))) for k in range(first, first + 4)]
    x = 1 / df
    log_t = 0.0
    for j, (x_j, y_j) in enumerate(nodes):
        weight = math.prod((x - x_m) / (x_j - x_m) for m, (x_m, _) in enumerate(nodes) if m != j)
        log_t += weight * y_j
    return math.exp(log_t)


def welch(treated: Sequence[float], control: Sequence[float]) -> Welch | None:
    """Welch's 95 % interval for mean(treated) - mean(control); ``None`` with fewer than 2
    on either side or no spread at all."""
    n_treated, n_control = len(treated), len(control)
    if n_treated < 2 or n_control < 2:
        return None
    v_treated = statistics.variance(treated) / n_treated
    v_control = statistics.variance(control) / n_control
    squared_error = v_treated + v_control
    if squared_error == 0:
        return None
    df = squared_error**2 / (v_treated**2 / (n_treated - 1) + v_control**2 / (n_control - 1))
    estimate = statistics.fmean(treated) - statistics.fmean(control)
    half = t_975_real(df) * math.sqrt(squared_error)
    return Welch(estimate, estimate - half, estimate + half, df)


def difference(
    modality: str, metric: str, treated: Sequence[float], control: Sequence[float]
) -> Difference:
    mean_treated = statistics.fmean(treated) if treated else None
    mean_control = statistics.fmean(control) if control else None
    interval = welch(treated, control)
    return Difference(
        modality=modality,
        metric=metric,
        n_treated=len(treated),
        n_control=len(control),
        mean_treated=mean_treated,
        mean_control=mean_control,
        estimate=(
            None if mean_treated is None or mean_control is None else mean_treated - mean_control
        ),
        low=None if interval is None else interval.low,
        high=None if interval is None else interval.high,
    )


def spans(time_ns: int, duration_s: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """The evaluator's before and after spans around a decision with no session."""
    end = time_ns + int(duration_s * NS)
    before = (time_ns - int(BEFORE_S * NS), time_ns)
    return before, (end + int(AFTER_SKIP_S * NS), end + int(AFTER_S * NS))


def control_changes(
    db: Database, patient_id: str, time_ns: int, duration_s: float, keys: tuple[str, ...]
) -> dict[str, float]:
    """Median after minus median before, per metric key that has values in both spans."""
    before, after = spans(time_ns, duration_s)
    found = queries.measurements(db, patient_id, keys, before[0], after[1])
    return _changes(found, before, after, keys)


def _changes(
    found: Sequence[tuple[str, int, float]],
    before: tuple[int, int],
    after: tuple[int, int],
    keys: tuple[str, ...],
) -> dict[str, float]:
    """control_changes from the measurements of [before's start, after's end]."""
    values: dict[tuple[str, str], list[float]] = {}
    for metric, at_ns, value in found:
        for span, (low, high) in (("before", before), ("after", after)):
            if low <= at_ns <= high and math.isfinite(value):
                values.setdefault((metric, span), []).append(value)
    return {
        key: statistics.median(values[key, "after"]) - statistics.median(values[key, "before"])
        for key in keys
        if (key, "before") in values and (key, "after") in values
    }


def comparison(
    db: Database,
    patient_id: str,
    default: PolicySnapshot,
    metrics: Sequence[tuple[str, str]],
) -> Comparison:
    """The micro-randomised comparison of ``metrics`` ((label, evaluation key) pairs)."""
    log = policy_log(db, patient_id, default)
    points = queries.randomisation_points(db, patient_id)
    controls = [d for d in points if d.hold_limit == "micro_randomised"]
    coin_versions = {d.policy_version for d in controls}
    keys = tuple(key for _, key in metrics)
    started = [d for d in points if d.action == "start_session"]
    faced = {d.event_id: _faced_the_coin(d, log, default, coin_versions) for d in started}
    treated = _treated_changes(db, patient_id, [d for d in started if faced[d.event_id]], keys)
    control: dict[str, list[float]] = {key: [] for key in keys}
    durations = [
        float(
            policy_at(log, default, point.policy_version).get(
                "session_duration_s", default.session_duration_s
            )
        )
        for point in controls
    ]
    around = [spans(point.time_ns, d) for point, d in zip(controls, durations, strict=True)]
    windows = [(before[0], after[1]) for before, after in around]
    found = queries.measurements_in_spans(db, patient_id, keys, windows)  # one query, not N
    for (before, after), measured in zip(around, found, strict=True):
        for key, value in _changes(measured, before, after, keys).items():
            control[key].append(value)
    rows = []
    for label, key in metrics:
        rows += _rows(label, treated[key], control[key])
    unknown = sum(1 for known in faced.values() if known is None)
    return Comparison(sum(1 for f in faced.values() if f), len(controls), unknown, rows)


def _faced_the_coin(
    point: queries.Decision, log: PolicyLog, default: PolicySnapshot, coin_versions: set[int]
) -> bool | None:
    """Whether a session's decision was randomised; ``None`` when the console cannot tell."""
    if point.policy_version in coin_versions:
        return True
    probability = policy_at(log, default, point.policy_version).get("randomisation_probability")
    return None if probability is None else float(probability) > 0


def _treated_changes(
    db: Database, patient_id: str, started: list[queries.Decision], keys: tuple[str, ...]
) -> dict[str, list[tuple[str, float]]]:
    """Per metric key, (modality, evaluated change) of the sessions these decisions started."""
    sessions = {s.command_id: s for s in queries.sessions(db, patient_id)}
    treated: dict[str, list[tuple[str, float]]] = {key: [] for key in keys}
    for point in started:
        session = sessions.get(point.command_id or "")
        found = (session.evaluation or {}).get("metrics") if session else None
        if session is None or not isinstance(found, dict):
            continue
        for key in keys:
            value = found.get(f"{key}_change")
            if isinstance(value, int | float) and math.isfinite(value):
                treated[key].append((session.modality, float(value)))
    return treated


def _rows(label: str, treated: list[tuple[str, float]], control: list[float]) -> list[Difference]:
    """All modalities together, then each modality when there are enough points for it."""
    rows = []
    if treated or control:
        rows.append(difference(ALL_MODALITIES, label, [v for _, v in treated], control))
    modalities = sorted({m for m, _ in treated})
    if len(modalities) < 2 or len(control) < MIN_PER_MODALITY:
        return rows
    for modality in modalities:
        own = [v for m, v in treated if m == modality]
        if len(own) >= MIN_PER_MODALITY:
            rows.append(difference(modality, label, own, control))
    return rows
