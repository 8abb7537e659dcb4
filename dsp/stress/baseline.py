"""Per-patient baseline of the stress features: running mean and SD over the calibration period.

Training z-scored each subject against the mean and SD (ddof 1) of their own calibration
windows, with SDs at or under ``min_sd`` replaced by 1 and scales never under a feature's
floor (SCALE_FLOORS, below), then clipped to +/-clip. Welford's
running update gives the same mean and SD without keeping the windows, and its state is three
small arrays, so the gateway can persist it as JSON and resume after a restart.

Two features can be undefined in a window for a reason that is not bad signal: the mean SCR
rise and half-recovery times (no recovery before the next response). In training an undefined
value became z = 0 (the baseline mean), so here too it scores as z = 0 and is skipped by the
running statistics; a feature never defined during calibration scores 0 throughout, as a
feature without baseline statistics did in training.

The "median_mad" estimator (a model trained on median/MAD calibrations declares it) keeps the
calibration windows instead, and after each one sets the centre to the median and the scale
to 1.4826 x the median absolute deviation of each feature; the z-score arithmetic is the same.
A stressor inside a minority of the calibration windows moves the median and the MAD much
less than the mean and the SD (docs/model-card.md measures what it does to the model).

The baseline also remembers which stream its heart features came from (an ECG, a strap's RR
intervals, wrist pulse): heart numbers from another source differ in level and spread (a pulse
beat lags and blurs an R-peak), so z-scores against this baseline mean something only for
windows from the same source (vagus.scoring refuses the others).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from dsp.stress.model_kernels import usable_kernel, z_scores_kernel

FloatArray = npt.NDArray[np.float64]

NEUTRAL_WHEN_UNDEFINED = frozenset({"scr_rise_time_mean", "scr_recovery_time_mean"})
STATE_FORMAT = "vagus-stress-baseline/1"
Estimator = Literal["mean_sd", "median_mad"]
ESTIMATORS: tuple[Estimator, ...] = ("mean_sd", "median_mad")
_MAD_TO_SD = 1.4826  # a normal distribution's SD per median absolute deviation

#: The smallest scale a feature's z-score divides by, in the feature's own units: what its
#: measurement can resolve. A calibration stiller than that (a patient sitting motionless for
#: the whole calibration, no skin response in any of its windows but one) would otherwise make
#: the slightest later fidget or a single response look like an extreme z, and an extreme z of
#: an input the model weighs (motion is one) is a false stress episode. Motion SD: 1 unit of the
#: E4's accelerometer, 1/64 g, its resolution (the features are kept in those units, whatever
#: the device). SCR count: one response a window. Training normalises with the same floors
#: (vagus.model.nested), and the sidecar of a model trained with them lists them, so the
#: runtime applies exactly those of the model it loaded. On WESAD's calibrations the floors
#: rarely bind (motion SDs 0.55-2.96 units, SCR-count SDs 1.1-7.7 responses across subjects).
SCALE_FLOORS: dict[str, float] = {"acc_magnitude_std": 1.0, "scr_peak_count": 1.0}


def floor_vector(names: Sequence[str], floors: Mapping[str, float]) -> FloatArray:
    """The floors of ``names`` in their order (0 where a feature has none)."""
    return np.array([float(floors.get(name, 0.0)) for name in names], dtype=np.float64)


def robust_centre_scale(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column of ``values`` (windows x features, or one feature's windows): the median and
    1.4826 x the median absolute deviation, the median_mad estimator's centre and scale. One
    definition for the gateway's baseline and for training's (vagus.model.nested)."""
    centre = np.median(values, axis=0)
    return centre, _MAD_TO_SD * np.median(np.abs(values - centre), axis=0)


class BaselineMismatchError(ValueError):
    """A saved baseline the model cannot use: made by another estimator, or holding no
    statistics for one of its features (saved for a model that read fewer inputs)."""


class RunningBaseline:
    """Welford statistics per feature, over (already transformed) feature vectors."""

    def __init__(
        self,
        names: Sequence[str],
        *,
        clip: float,
        min_sd: float,
        frozen: bool = False,
        estimator: Estimator = "mean_sd",
        floors: Mapping[str, float] | None = None,
    ) -> None:
        """``floors``: the model's scale floors by feature name (its sidecar's; none: none)."""
        if not (clip > 0 and min_sd >= 0):
            raise ValueError(f"need clip > 0 and min_sd >= 0, got {clip} and {min_sd}")
        if floors is not None and not all(f >= 0 for f in floors.values()):
            raise ValueError(f"scale floors must be >= 0, got {dict(floors)}")
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown baseline estimator {estimator!r}; use one of {ESTIMATORS}")
        self.estimator: Estimator = estimator
        #: the stream the calibration windows' heart features came from (None: none yet)
        self.heart_source: str | None = None
        #: the calibration windows, kept by the median_mad estimator only
        self.rows: list[FloatArray] = []
        self.names = tuple(names)
        self.floor = floor_vector(self.names, floors or {})
        self.clip = clip
        self.min_sd = min_sd
        self.frozen = frozen
        self.windows = 0
        self.count = np.zeros(len(self.names), dtype=np.int64)
        self.mean = np.zeros(len(self.names))
        self.m2 = np.zeros(len(self.names))
        self._neutral = np.array([n in NEUTRAL_WHEN_UNDEFINED for n in self.names])

    def usable(self, values: FloatArray) -> bool:
        """Every feature finite, except those whose undefined value is neutral (one kernel call;
        usable_reference is its numpy twin)."""
        if values.shape != self._neutral.shape or values.dtype != np.float64:
            return self.usable_reference(values)
        return bool(usable_kernel(values, self._neutral))

    def usable_reference(self, values: FloatArray) -> bool:
        """numpy twin of usable."""
        return bool(np.all(np.isfinite(values) | self._neutral))

    def add(self, values: FloatArray) -> None:
        """One calibration window; refused (ValueError) once frozen or if not usable."""
        if self.frozen:
            raise ValueError("the baseline is frozen; calibration is over")
        if values.shape != self.mean.shape or not self.usable(values):
            raise ValueError("a calibration window needs every (non-neutral) feature finite")
        seen = np.isfinite(values)
        self.windows += 1
        if self.estimator == "median_mad":
            self.rows.append(values.astype(np.float64, copy=True))
            self._robust_statistics()
            return
        self.count[seen] += 1
        delta = values[seen] - self.mean[seen]
        self.mean[seen] += delta / self.count[seen]
        self.m2[seen] += delta * (values[seen] - self.mean[seen])

    def _robust_statistics(self) -> None:
        """Median and MAD scale of the kept windows, stored as mean and m2 (m2 = scale^2 x
        (count - 1)) so that the z-scores and the SD rule are computed as for mean_sd."""
        table = np.vstack(self.rows)
        for k in range(table.shape[1]):
            column = table[:, k][np.isfinite(table[:, k])]
            self.count[k] = column.size
            if column.size == 0:
                self.mean[k] = self.m2[k] = 0.0
                continue
            centre, scale = (float(v) for v in robust_centre_scale(column))
            self.mean[k] = centre
            self.m2[k] = scale * scale * max(column.size - 1, 0)

    def sd(self) -> FloatArray:
        """Sample SD (ddof 1); 1 where it is at or under min_sd or undefined, never under the
        feature's floor (training's rule)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(self.m2 / (self.count - 1))
        return np.maximum(np.where((self.count > 1) & (sd > self.min_sd), sd, 1.0), self.floor)

    def z_scores(self, values: FloatArray) -> FloatArray:
        """Clipped z of one window; neutral features undefined here or in calibration give 0.

        One kernel call (dsp.stress.model_kernels); z_scores_reference is its numpy twin."""
        if values.shape != self.mean.shape:
            raise ValueError(f"expected {self.mean.size} features, got {values.shape}")
        return z_scores_kernel(
            np.ascontiguousarray(values, dtype=np.float64),
            self.count,
            self.mean,
            self.m2,
            self._neutral,
            self.floor,
            float(self.min_sd),
            float(self.clip),
        )

    def z_scores_reference(self, values: FloatArray) -> FloatArray:
        """numpy twin of z_scores."""
        if values.shape != self.mean.shape:
            raise ValueError(f"expected {self.mean.size} features, got {values.shape}")
        z = np.clip((values - self.mean) / self.sd(), -self.clip, self.clip)
        undefined = ~np.isfinite(values) | (self.count < 2)
        return np.where(self._neutral & undefined, 0.0, z)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "features": list(self.names),
            "frozen": self.frozen,
            "windows": self.windows,
            "clip": self.clip,
            "min_sd": self.min_sd,
            "count": self.count.tolist(),
            "mean": self.mean.tolist(),
            "m2": self.m2.tolist(),
            "estimator": self.estimator,
            "heart_source": self.heart_source,
            "rows": [[v if math.isfinite(v) else None for v in row.tolist()] for row in self.rows],
        }

    @classmethod
    def from_json(
        cls,
        state: dict[str, Any],
        names: Sequence[str],
        estimator: Estimator = "mean_sd",
        floors: Mapping[str, float] | None = None,
    ) -> RunningBaseline:
        """Restore a saved baseline; refuse one malformed (ValueError), or one missing one of
        ``names`` or made by another estimator (BaselineMismatchError: nothing to resume).

        Each feature's statistics are kept apart, so a baseline saved for more features (a
        model that used more inputs) restores the ones asked for: a new model need not make the
        patient calibrate again. The floors are the model's, not saved: the statistics are."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a {STATE_FORMAT} state: format {state.get('format')!r}")
        saved_estimator = state.get("estimator", "mean_sd")  # states before it: mean_sd
        if saved_estimator != estimator:
            raise BaselineMismatchError(
                f"the saved baseline was made with {saved_estimator}, this model needs {estimator}"
            )
        saved = list(state["features"])
        missing = [name for name in names if name not in saved]
        if missing:
            raise BaselineMismatchError(
                f"the saved baseline has no statistics for {', '.join(missing)}"
            )
        baseline = cls(
            names,
            clip=float(state["clip"]),
            min_sd=float(state["min_sd"]),
            frozen=state["frozen"],
            estimator=estimator,
            floors=floors,
        )
        columns = [saved.index(name) for name in names]
        saved_rows = state.get("rows", [])
        rows = [np.array([math.nan if v is None else float(v) for v in r]) for r in saved_rows]
        if any(row.size != len(saved) for row in rows):
            raise ValueError("the saved baseline's calibration windows are malformed")
        baseline.rows = [row[columns] for row in rows]
        count, mean, m2 = (np.asarray(state[k]) for k in ("count", "mean", "m2"))
        if {a.shape for a in (count, mean, m2)} != {(len(saved),)}:
            raise ValueError("the saved baseline's statistics are malformed")
        baseline.windows = int(state["windows"])
        source = state.get("heart_source")  # states before it: not known
        if source is not None and not isinstance(source, str):
            raise ValueError("the saved baseline's heart source is malformed")
        baseline.heart_source = source
        baseline.count = count[columns].astype(np.int64)
        baseline.mean = mean[columns].astype(np.float64)
        baseline.m2 = m2[columns].astype(np.float64)
        shapes = {a.shape for a in (baseline.count, baseline.mean, baseline.m2)}
        finite = all(math.isfinite(v) for v in [*baseline.mean, *baseline.m2])
        if shapes != {(len(names),)} or not finite or np.any(baseline.count < 0):
            raise ValueError("the saved baseline's statistics are malformed")
        return baseline
