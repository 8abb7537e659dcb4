"""Per-patient decision threshold and recalibration, changeable without retraining.

The network is shared; people are not. A clinician (or the outcomes of past sessions) may find
that the model runs hot or cold for one patient. Two knobs fix that without touching the
weights: a Platt recalibration on the logit of the model's probability,

    p' = 1 / (1 + exp(-(slope * logit(p) + intercept)))     (identity: slope 1, intercept 0)

and the decision threshold on p' that starts an episode. ``refit_recalibration`` fits slope and
intercept from a handful of labelled windows, with a Gaussian prior that pulls them towards the
identity so that six labels cannot produce an extreme correction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_ABS_INTERCEPT = 10.0
MAX_SLOPE = 10.0
MIN_LABELS = 6
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class PatientCalibration:
    """A patient's threshold and Platt correction; impossible values raise ValueError."""

    threshold: float
    platt_slope: float = 1.0
    platt_intercept: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, float | int) and 0.0 < self.threshold < 1.0):
            raise ValueError(
                f"threshold must be a probability strictly between 0 and 1, got {self.threshold!r}"
            )
        if not (math.isfinite(self.platt_slope) and 0.0 < self.platt_slope <= MAX_SLOPE):
            raise ValueError(
                f"platt_slope must be in (0, {MAX_SLOPE}] (a slope <= 0 would invert or flatten"
                f" the model), got {self.platt_slope!r}"
            )
        if not (
            math.isfinite(self.platt_intercept) and abs(self.platt_intercept) <= MAX_ABS_INTERCEPT
        ):
            raise ValueError(
                f"platt_intercept must be finite and within +/-{MAX_ABS_INTERCEPT},"
                f" got {self.platt_intercept!r}"
            )

    @property
    def identity(self) -> bool:
        return self.platt_slope == 1.0 and self.platt_intercept == 0.0

    def apply(self, probability: float) -> float:
        """The recalibrated probability (unchanged when the correction is the identity)."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {probability!r}")
        if self.identity:
            return probability
        p = min(max(probability, _EPS), 1.0 - _EPS)
        logit = math.log(p / (1.0 - p))
        return 1.0 / (1.0 + math.exp(-(self.platt_slope * logit + self.platt_intercept)))

    def is_stress(self, probability: float) -> bool:
        return self.apply(probability) >= self.threshold


def refit_recalibration(
    probabilities: Sequence[float],
    labels: Sequence[bool],
    *,
    current: PatientCalibration,
    prior_sd: float = 1.0,
) -> PatientCalibration:
    """Fit slope and intercept on the model's (uncorrected) probabilities of labelled windows.

    Maximum a posteriori logistic regression on logit(p) with independent Gaussian priors of
    SD ``prior_sd`` centred on slope 1 and intercept 0 (Newton's method); the threshold is kept.
    Needs at least MIN_LABELS windows and both labels; raises ValueError otherwise, and when the
    labels contradict the model so much that the fitted slope is not positive.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if p.ndim != 1 or p.shape != y.shape:
        raise ValueError("probabilities and labels must be 1-D and the same length")
    if p.size < MIN_LABELS or len(set(y.tolist())) != 2:
        raise ValueError(f"need at least {MIN_LABELS} labelled windows with both outcomes")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("probabilities must be within [0, 1]")
    if not prior_sd > 0:
        raise ValueError(f"prior_sd must be positive, got {prior_sd}")
    clipped = np.clip(p, _EPS, 1 - _EPS)
    x = np.column_stack((np.log(clipped / (1 - clipped)), np.ones_like(p)))
    prior = np.array([1.0, 0.0])
    precision = np.eye(2) / prior_sd**2
    w = prior.copy()
    for _ in range(200):
        q = 0.5 * (1.0 + np.tanh(0.5 * (x @ w)))  # the logistic function, without overflow
        gradient = x.T @ (q - y) + precision @ (w - prior)
        hessian = (x.T * (q * (1 - q))) @ x + precision
        step = np.linalg.solve(hessian, gradient)
        step *= min(1.0, 1.0 / float(np.max(np.abs(step))))  # damped: at most 1 per iteration
        w -= step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    slope, intercept = float(w[0]), float(w[1])
    if not (math.isfinite(slope) and math.isfinite(intercept)):
        raise ValueError("the recalibration did not converge; review the labels")
    if slope <= 0:
        raise ValueError(
            f"the labels contradict the model (fitted slope {slope:.3f} <= 0):"
            " review them or retrain"
        )
    return PatientCalibration(
        threshold=current.threshold,
        platt_slope=min(slope, MAX_SLOPE),
        platt_intercept=float(np.clip(intercept, -MAX_ABS_INTERCEPT, MAX_ABS_INTERCEPT)),
    )
