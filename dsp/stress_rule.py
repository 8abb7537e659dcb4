"""The interim stress score: a documented rule on personal-baseline z-scores.

It stands in until the trained model lands, and it is honest about being a rule: the score is a
monotone squashing of how far heart rate, vagal HRV and skin-conductance responses have moved
from the patient's own calibration period, not a calibrated probability.

    z_hr   = (HR - mean_HR) / sd_HR                      (faster heart: more aroused)
    z_hrv  = -(ln RMSSD - mean_ln_RMSSD) / sd_ln_RMSSD   (less vagal activity: more aroused)
    z_scr  = (SCR/min - mean_SCR) / sd_SCR               (more sweat responses: more aroused)
    arousal = mean of the available z values
    score  = 1 / (1 + exp(-SLOPE * (arousal - MIDPOINT)))

Standard deviations are floored (SD_FLOOR) so a very steady calibration period cannot turn a
small change into a huge z value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SLOPE = 2.0
MIDPOINT = 1.5
SD_FLOOR = {"hr": 3.0, "ln_rmssd": 0.25, "scr": 1.0}
METHOD = "baseline-z-rule/1"


@dataclass(frozen=True, slots=True)
class RuleInputs:
    """The per-window values the rule reads (``None`` when the window could not provide one)."""

    heart_rate_bpm: float | None
    rmssd_ms: float | None
    scr_rate_per_min: float | None

    def transformed(self) -> dict[str, float]:
        values: dict[str, float] = {}
        if self.heart_rate_bpm is not None and math.isfinite(self.heart_rate_bpm):
            values["hr"] = self.heart_rate_bpm
        if self.rmssd_ms is not None and self.rmssd_ms > 0 and math.isfinite(self.rmssd_ms):
            values["ln_rmssd"] = math.log(self.rmssd_ms)
        if self.scr_rate_per_min is not None and math.isfinite(self.scr_rate_per_min):
            values["scr"] = self.scr_rate_per_min
        return values


@dataclass
class _Running:
    """Welford's running mean and variance."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)

    def sd(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0


_SIGN = {"hr": 1.0, "ln_rmssd": -1.0, "scr": 1.0}


@dataclass
class PersonalBaseline:
    """Running statistics over the calibration period, then frozen."""

    min_windows: int = 10
    _stats: dict[str, _Running] = field(default_factory=dict)
    frozen: bool = False

    def add(self, inputs: RuleInputs) -> None:
        if self.frozen:
            return
        for name, value in inputs.transformed().items():
            self._stats.setdefault(name, _Running()).add(value)

    def freeze(self) -> bool:
        """End calibration; True when there was enough data to score against."""
        self.frozen = True
        return self.ready

    @property
    def ready(self) -> bool:
        return self.frozen and any(s.count >= self.min_windows for s in self._stats.values())

    def z_scores(self, inputs: RuleInputs) -> dict[str, float]:
        """Signed z values (positive = more aroused) for the features the baseline knows."""
        scores = {}
        for name, value in inputs.transformed().items():
            stats = self._stats.get(name)
            if stats is None or stats.count < self.min_windows:
                continue
            sd = max(stats.sd(), SD_FLOOR[name])
            scores[f"z_{name}"] = _SIGN[name] * (value - stats.mean) / sd
        return scores


def stress_score(z_scores: dict[str, float]) -> float | None:
    """The rule's score in [0, 1], or ``None`` when no z value is available."""
    if not z_scores:
        return None
    arousal = sum(z_scores.values()) / len(z_scores)
    return 1.0 / (1.0 + math.exp(-SLOPE * (arousal - MIDPOINT)))
