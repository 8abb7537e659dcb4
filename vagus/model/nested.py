"""Nested leave-one-subject-out evaluation of the whole model-building procedure.

The outer loop holds one subject out; everything that could be tuned (feature subset, L2
strength, Platt calibration, decision threshold) is chosen by an inner leave-one-subject-out over
the remaining subjects only, so the outer subject is never seen before it is scored. What is
reported is therefore what the procedure gives a new wearer, not what its best fold gave.

Normalisation and scoring follow the runtime (``RUNTIME``): each subject's features are z-scored
against their own first ``CALIBRATION_WINDOWS`` windows in time order (mean, SD ddof 1, clip),
as many as the gateway's default calibration period holds, with no label used; and, as the
gateway reports those windows as ``calibrating`` rather than scoring them, only the windows after
them count. A 5-minute calibration and ``CONDITION`` (against the whole labelled baseline
condition, every window counted, as the card used to report) are kept for comparison. The
candidate grid is small on purpose: few, robust features the runtime computes from any wrist or
chest device, and a regularised logistic regression.

What ships is this procedure's final fit (``final_fit``: every subject, runtime protocol, with
heart data), exported by vagus.model.export, so the nested figures describe the bundled model;
beside it, its fit on median/MAD calibrations and its fit without heart data (WITHOUT_HEART).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from dsp.stress import robust_centre_scale
from vagus.config import WindowSettings
from vagus.model.dataset import CLIP, MIN_SD, Dataset, scale_floors
from vagus.model.report_keys import (
    CROSS_KEY,
    NO_HEART_ROBUST_KEY,
    ROBUST_KEY,
    RUNTIME_KEY,
    WITHOUT_HEART_KEY,
)
from vagus.model.uncertainty import subject_bootstrap

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int_]
BoolArray = npt.NDArray[np.bool_]

WINDOW_S = 60.0  # the WESAD feature table's windows, back to back
#: First windows of each subject that form their baseline under the runtime protocol: the
#: gateway's default calibration period (calibration_s, 1200 s) in 60 s windows.
CALIBRATION_WINDOWS = round(WindowSettings().calibration_s / WINDOW_S)
#: A 5-minute calibration, reported beside it (the shortest the card has figures for).
SHORT_CALIBRATION_WINDOWS = 5
#: The calibrations evaluated: (windows, robust). Robust: median and 1.4826 x MAD instead of
#: mean and SD, so a stressor inside a minority of the calibration windows moves it less.
CALIBRATIONS: dict[str, tuple[int, bool]] = {
    RUNTIME_KEY: (CALIBRATION_WINDOWS, False),
    "short_calibration": (SHORT_CALIBRATION_WINDOWS, False),
    ROBUST_KEY: (CALIBRATION_WINDOWS, True),
}
RUNTIME = "first_minutes"
CONDITION = "baseline_condition"
#: Feature subsets the inner loop chooses among: EDA level and responses, heart rate, motion.
SUBSETS: dict[str, tuple[str, ...]] = {
    "eda": ("scl_mean", "scr_peak_count"),
    "eda_hr": ("scl_mean", "scr_peak_count", "hrv_mean_rr"),
    "eda_hr_motion": ("scl_mean", "scr_peak_count", "hrv_mean_rr", "acc_magnitude_std"),
    "eda_hrv_motion": (
        "scl_mean",
        "scl_slope",
        "scr_peak_count",
        "scr_amplitude_sum",
        "hrv_mean_rr",
        "hrv_rmssd",
        "acc_magnitude_std",
    ),
}
#: For sources without a validated beat path (a wrist whose pulse fails its gate): no heart data.
WITHOUT_HEART: dict[str, tuple[str, ...]] = {
    "eda": ("scl_mean", "scr_peak_count"),
    "eda_motion": ("scl_mean", "scr_peak_count", "acc_magnitude_std"),
    "eda_more_motion": (
        "scl_mean",
        "scl_slope",
        "scr_peak_count",
        "scr_amplitude_sum",
        "acc_magnitude_std",
    ),
}
STRENGTHS = (0.01, 0.1, 1.0)  # inverse L2 strengths (sklearn's C)
ECE_BINS = 10  # equal-width probability bins for the expected calibration error


@dataclass(frozen=True, slots=True)
class Choice:
    """One fitted procedure: its features, C, Platt map, threshold and the fitted weights."""

    subset: str
    features: tuple[str, ...]
    strength: float
    platt: tuple[float, float]
    threshold: float
    weights: FloatArray  # one per feature of the subset
    bias: float

    def logit(self, x: FloatArray) -> FloatArray:
        raw = x @ self.weights + self.bias
        return np.asarray(self.platt[0] * raw + self.platt[1], dtype=np.float64)

    def probability(self, x: FloatArray) -> FloatArray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.logit(x))), dtype=np.float64)


def baseline_z(
    values: FloatArray,
    reference: FloatArray,
    *,
    robust: bool = False,
    floors: FloatArray | None = None,
) -> FloatArray:
    """values z-scored against the reference windows' mean and SD (ddof 1), or their median and
    1.4826 x MAD when robust; a scale at or under MIN_SD counts as 1, and none is under its
    column's floor (dsp.stress.SCALE_FLOORS, as at run time); clipped to +/-CLIP."""
    if robust:
        centre, scale = robust_centre_scale(reference)
    else:
        centre, scale = reference.mean(axis=0), reference.std(axis=0, ddof=1)
    scale = np.where(scale > MIN_SD, scale, 1.0)
    if floors is not None:
        scale = np.maximum(scale, floors)
    return np.asarray(np.clip((values - centre) / scale, -CLIP, CLIP), dtype=np.float64)


def normalise_first(
    data: Dataset, windows: int = CALIBRATION_WINDOWS, *, robust: bool = False
) -> FloatArray:
    """Each subject z-scored against their first ``windows`` plausible windows (time order)."""
    floors = scale_floors(data)
    out = np.empty_like(data.values)
    for subject in np.unique(data.subjects):
        rows = np.flatnonzero(data.subjects == subject)  # load() sorts by subject, then time
        reference = data.values[rows[data.plausible[rows]][:windows]]
        out[rows] = baseline_z(data.values[rows], reference, robust=robust, floors=floors)
    return out


def _fit(x: FloatArray, y: IntArray, strength: float) -> tuple[FloatArray, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = LogisticRegression(C=strength, max_iter=5000).fit(x, y)
    return np.asarray(fit.coef_[0], dtype=np.float64), float(fit.intercept_[0])


def _platt(logit: FloatArray, y: IntArray) -> tuple[float, float]:
    fit = LogisticRegression(C=1e4, max_iter=1000).fit(logit[:, None], y)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def choose_threshold(p: FloatArray, y: IntArray) -> float:
    """The macro-F1-best cut on out-of-fold probabilities; ties go to the one nearest 0.5."""
    grid = np.round(np.linspace(0.05, 0.95, 91), 2)
    scores = np.array([f1_score(y, p >= t, average="macro") for t in grid])
    best = grid[scores >= scores.max() - 1e-12]
    return float(best[np.argmin(np.abs(best - 0.5))])


def _columns(features: list[str], names: tuple[str, ...]) -> list[int]:
    return [features.index(name) for name in names]


def fit_procedure(
    x: FloatArray,
    y: IntArray,
    groups: npt.NDArray[Any],
    features: list[str],
    subsets: dict[str, tuple[str, ...]] = SUBSETS,
) -> Choice:
    """Inner LOSO over ``groups`` picks subset and C by out-of-fold log-loss; Platt and threshold
    come from the chosen candidate's out-of-fold logits; then it is refitted on all of x."""
    subjects = np.unique(groups)
    best: tuple[float, str, float, FloatArray] | None = None
    for subset, names in subsets.items():
        columns = _columns(features, names)
        for strength in STRENGTHS:
            oof = np.zeros(len(y))
            for subject in subjects:
                test = groups == subject
                weights, bias = _fit(x[~test][:, columns], y[~test], strength)
                oof[test] = x[test][:, columns] @ weights + bias
            loss = float(np.mean(np.logaddexp(0, oof) - y * oof))
            if best is None or loss < best[0] - 1e-12:
                best = (loss, subset, strength, oof)
    assert best is not None
    _, subset, strength, oof = best
    platt = _platt(oof, y)
    threshold = choose_threshold(1 / (1 + np.exp(-(platt[0] * oof + platt[1]))), y)
    weights, bias = _fit(x[:, _columns(features, subsets[subset])], y, strength)
    return Choice(subset, subsets[subset], strength, platt, threshold, weights, bias)


def expected_calibration_error(y: IntArray, p: FloatArray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width bins of (share of windows) x |mean predicted - observed rate|."""
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    return float(
        sum(
            np.mean(index == b) * abs(p[index == b].mean() - y[index == b].mean())
            for b in range(bins)
            if np.any(index == b)
        )
    )


def summary(
    y: IntArray, p: FloatArray, cut: FloatArray, subjects: npt.NDArray[Any]
) -> dict[str, Any]:
    """Pooled and per-subject accuracy and macro-F1, the worst subject, and ECE; the pooled
    figures with their subject-level bootstrap interval (vagus.model.uncertainty)."""
    predicted = p >= cut
    per_subject = {
        str(s): {
            "accuracy": float(accuracy_score(y[m], predicted[m])),
            "macro_f1": float(f1_score(y[m], predicted[m], average="macro")),
            "windows": int(m.sum()),
        }
        for s in np.unique(subjects)
        for m in [subjects == s]
    }
    worst = min(per_subject, key=lambda s: per_subject[s]["accuracy"])
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, average="macro")),
        "worst_subject": worst,
        "worst_subject_accuracy": per_subject[worst]["accuracy"],
        "worst_subject_windows": per_subject[worst]["windows"],
        "ece": expected_calibration_error(y, p),
        "ece_bins": f"{ECE_BINS} equal-width bins of the predicted probability",
        "ci95": subject_bootstrap(y, predicted, p, subjects, ECE_BINS),
        "per_subject": per_subject,
    }


#: Stress windows put into a held-out subject's calibration to see what a stressor inside it
#: does: 5, a quarter of the 20 (WESAD has about 10 stress windows a subject, so more would
#: leave almost none to score).
POISONED_WINDOWS = (5,)


def normalise_poisoned(
    data: Dataset, stressed: int, windows: int = CALIBRATION_WINDOWS, *, robust: bool = False
) -> tuple[FloatArray, BoolArray]:
    """Each subject z-scored against a calibration that held a stressor: their first
    ``windows - stressed`` plausible windows (rest, on WESAD) and their first ``stressed``
    plausible stress windows, as if the stressor had come during calibration. Returns the
    normalised values and the windows to count: after the calibration, without the stress
    windows it used (at run time those would have been calibration windows, unscored)."""
    out = np.empty_like(data.values)
    counted = after_calibration(data, windows - stressed)
    floors = scale_floors(data)
    for subject in np.unique(data.subjects):
        rows = np.flatnonzero(data.subjects == subject)
        usable = rows[data.plausible[rows]]
        stress_rows = usable[data.stress[usable] == 1][:stressed]
        reference = np.concatenate((usable[: windows - stressed], stress_rows))
        out[rows] = baseline_z(
            data.values[rows], data.values[reference], robust=robust, floors=floors
        )
        counted[stress_rows] = False
    return out, counted


def after_calibration(data: Dataset, windows: int = CALIBRATION_WINDOWS) -> BoolArray:
    """Windows after each subject's calibration (the last of its first ``windows`` plausible
    ones): what the runtime scores; the calibration windows themselves it does not."""
    out = np.ones(len(data.stress), dtype=bool)
    for subject in np.unique(data.subjects):
        rows = np.flatnonzero(data.subjects == subject)
        last = rows[data.plausible[rows]][:windows][-1]
        out[rows[rows <= last]] = False
    return out


def nested_loso(
    data: Dataset,
    x: FloatArray,
    subsets: dict[str, tuple[str, ...]] = SUBSETS,
    counted: BoolArray | None = None,
    scored: FloatArray | None = None,
) -> dict[str, Any]:
    """Outer LOSO around fit_procedure; the outer subject is never fitted, chosen or calibrated
    on. Implausible windows are never fitted to but are scored; the figures are over the
    ``counted`` windows (all when None). ``scored``, when given, is what the outer subject is
    scored on instead of ``x`` (the same windows normalised another way)."""
    y, groups = data.stress, data.subjects
    p = np.zeros(len(y))
    cut = np.zeros(len(y))
    chosen: dict[str, dict[str, Any]] = {}
    for subject in np.unique(groups):
        test = groups == subject
        fit = ~test & data.plausible
        choice = fit_procedure(x[fit], y[fit], groups[fit], data.features, subsets)
        outer = x if scored is None else scored
        p[test] = choice.probability(outer[test][:, _columns(data.features, choice.features)])
        cut[test] = choice.threshold
        chosen[str(subject)] = {
            "subset": choice.subset,
            "C": choice.strength,
            "threshold": choice.threshold,
        }
    m = np.ones(len(y), dtype=bool) if counted is None else counted
    return summary(y[m], p[m], cut[m], groups[m]) | {"choices": chosen}


def final_fit(
    data: Dataset, x: FloatArray, subsets: dict[str, tuple[str, ...]] = SUBSETS
) -> Choice:
    """The procedure fitted on every subject's plausible windows; with SUBSETS on the runtime
    protocol's normalisation this is the model that ships (what the nested figures describe)."""
    fit = data.plausible
    return fit_procedure(x[fit], data.stress[fit], data.subjects[fit], data.features, subsets)


def _described(choice: Choice) -> dict[str, Any]:
    """A final fit's choices, JSON-ready."""
    return {
        "subset": choice.subset,
        "features": list(choice.features),
        "C": choice.strength,
        "threshold": choice.threshold,
    }


@dataclass(frozen=True, slots=True)
class Report:
    """The nested figures (JSON-ready) and the fit they describe, so training exports that very
    fit rather than fitting again."""

    figures: dict[str, Any]
    shipped: Choice  # final_fit with heart data under the runtime protocol
    robust: Choice  # the same with median/MAD calibrations: the bundled robust twin
    no_heart: Choice  # final_fit without heart data under the runtime protocol: the default
    no_heart_robust: Choice  # the same with median/MAD calibrations


def report(data: Dataset, condition_x: FloatArray, stress_predict: Path | None) -> Report:
    """Nested figures under the runtime protocol (headline) and its variants (a 5-minute
    calibration, a median/MAD baseline), against the whole baseline condition, and without heart
    data; then, per calibration, the procedure fitted on every subject and scored on
    Stress-Predict if its folder is given and present."""
    from vagus.model import cross_dataset  # noqa: PLC0415 - imports nested's names

    result: dict[str, Any] = {
        "protocol": f"per-patient z-score against the first {CALIBRATION_WINDOWS} usable "
        "60 s windows of each subject (the gateway's default calibration period), no labels "
        "used; only the windows after them counted, as the gateway scores",
    }
    finals: dict[tuple[str, str], Choice] = {}  # (calibration, with/without heart): final fit
    normalised: dict[tuple[int, bool], FloatArray] = {}
    for key, (windows, robust) in CALIBRATIONS.items():
        x = normalised[windows, robust] = normalise_first(data, windows, robust=robust)
        counted = after_calibration(data, windows)
        result[key] = nested_loso(data, x, counted=counted)
        if key == RUNTIME_KEY:
            result["baseline_condition"] = nested_loso(data, condition_x)
            result[WITHOUT_HEART_KEY] = nested_loso(data, x, WITHOUT_HEART, counted=counted)
        if key == ROBUST_KEY:
            result[NO_HEART_ROBUST_KEY] = nested_loso(data, x, WITHOUT_HEART, counted=counted)
        suffix = "" if key == RUNTIME_KEY else f"_{key}"
        for name, subsets in (("with_heart", SUBSETS), ("without_heart", WITHOUT_HEART)):
            choice = finals[key, name] = final_fit(data, x, subsets)
            if key in (RUNTIME_KEY, ROBUST_KEY):
                result[f"final_{name}{suffix}"] = _described(choice)
            if stress_predict is not None and stress_predict.is_dir():
                result[f"{CROSS_KEY}_{name}{suffix}"] = cross_dataset.evaluate(
                    stress_predict, choice, windows, robust=robust
                )
    for stressed in POISONED_WINDOWS:
        for robust in (False, True):
            clean = normalised[CALIBRATION_WINDOWS, robust]  # both are in CALIBRATIONS
            x_poisoned, counted = normalise_poisoned(data, stressed, robust=robust)
            key = f"poisoned_{stressed}" + ("_robust_baseline" if robust else "")
            result[key] = nested_loso(data, clean, counted=counted, scored=x_poisoned)
            # the default model's procedure too, and its median/MAD twin
            twin = NO_HEART_ROBUST_KEY if robust else WITHOUT_HEART_KEY
            result[f"poisoned_{stressed}_{twin}"] = nested_loso(
                data, clean, WITHOUT_HEART, counted=counted, scored=x_poisoned
            )
    return Report(
        result,
        shipped=finals[RUNTIME_KEY, "with_heart"],
        robust=finals[ROBUST_KEY, "with_heart"],
        no_heart=finals[RUNTIME_KEY, "without_heart"],
        no_heart_robust=finals[ROBUST_KEY, "without_heart"],
    )
