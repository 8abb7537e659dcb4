"""Train, evaluate and export the stress model.

What ships is the nested procedure's final fit (vagus.model.nested, exported by
vagus.model.export): a logistic regression on a few features chosen by inner folds, normalised
as the gateway does (against each patient's first calibration windows), so the nested figures
describe the bundled file. The 38-feature MLP that shipped before, and two baselines, are still
evaluated here by leave-one-subject-out for comparison; none of them is exported. Their L2
strength, Platt calibration and threshold come from a grouped inner cross-validation, but their
features are fixed beforehand and they are normalised against WESAD's baseline condition
(raw_label 1): the CSV's ``z_*`` columns are whole-session z-scores, and because a z-score is
affine in the raw value, re-normalising them against the calibration windows gives exactly the
calibration-period z-score of the raw feature, so no future data reaches a model.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.neural_network import MLPClassifier

from vagus.config import StressModelSettings
from vagus.model import cross_dataset, export
from vagus.model.dataset import Dataset, load, normalise
from vagus.model.nested import Choice
from vagus.model.nested import report as nested_report
from vagus.model.report_keys import replay_key
from vagus.model.tflite_writer import Layer, mlp_forward

FloatArray = npt.NDArray[np.float64]
Metrics = dict[str, float]

SEED = 0
HIDDEN = 16
ALPHAS = (0.1, 1.0, 10.0)  # L2 strengths tried in the inner CV
INNER_FOLDS = 3


def _fit_mlp(x: FloatArray, y: npt.NDArray[np.int_], alpha: float) -> list[Layer]:
    net = MLPClassifier((HIDDEN,), alpha=alpha, solver="lbfgs", max_iter=2000, random_state=SEED)
    with warnings.catch_warnings():  # lbfgs stopping at max_iter on a plateau is expected
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(x, y)
    return list(zip(net.coefs_, net.intercepts_, strict=True))


def _logit(layers: list[Layer], x: FloatArray) -> FloatArray:
    p = np.clip(mlp_forward(layers, x)[:, 0], 1e-12, 1 - 1e-12)
    return np.asarray(np.log(p / (1 - p)), dtype=np.float64)


def _platt(logit: FloatArray, y: npt.NDArray[np.int_]) -> tuple[float, float]:
    fit = LogisticRegression(C=1e4, max_iter=1000).fit(logit[:, None], y)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def choose_threshold(p: FloatArray, y: npt.NDArray[np.int_]) -> float:
    """The macro-F1-best cut on out-of-fold probabilities; ties go to the one nearest 0.5."""
    grid = np.round(np.linspace(0.05, 0.95, 91), 2)
    scores = np.array([f1_score(y, p >= t, average="macro") for t in grid])
    best = grid[scores >= scores.max() - 1e-12]
    return float(best[np.argmin(np.abs(best - 0.5))])


@dataclass(frozen=True, slots=True)
class FittedMlp:
    layers: list[Layer]  # Platt calibration folded into the output layer
    alpha: float
    platt: tuple[float, float]
    threshold: float


def fit_mlp(x: FloatArray, y: npt.NDArray[np.int_], groups: npt.NDArray[Any]) -> FittedMlp:
    """Inner grouped CV picks alpha (log-loss), then Platt and threshold on its OOF logits."""
    folds = list(GroupKFold(INNER_FOLDS).split(x, y, groups))
    oof = {alpha: np.zeros(len(y)) for alpha in ALPHAS}
    for train, test in folds:
        for alpha in ALPHAS:
            oof[alpha][test] = _logit(_fit_mlp(x[train], y[train], alpha), x[test])

    def log_loss(z: FloatArray) -> float:
        return float(np.mean(np.logaddexp(0, z) - y * z))

    alpha = min(ALPHAS, key=lambda a: log_loss(oof[a]))
    slope, intercept = _platt(oof[alpha], y)
    threshold = choose_threshold(1 / (1 + np.exp(-(slope * oof[alpha] + intercept))), y)
    layers = _fit_mlp(x, y, alpha)
    weights, bias = layers[-1]
    folded = (np.asarray(weights) * slope, np.asarray(bias) * slope + intercept)
    return FittedMlp([*layers[:-1], folded], alpha, (slope, intercept), threshold)


def metrics(y: npt.NDArray[np.int_], p: FloatArray, threshold: float | FloatArray) -> Metrics:
    predicted = p >= threshold
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, average="macro")),
        "auroc": float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else float("nan"),
        "brier": float(brier_score_loss(y, p)),
    }


Scorer = Callable[
    [FloatArray, npt.NDArray[np.int_], npt.NDArray[Any], FloatArray], tuple[FloatArray, float]
]


def _mlp(
    x: FloatArray, y: npt.NDArray[np.int_], groups: npt.NDArray[Any], xt: FloatArray
) -> tuple[FloatArray, float]:
    fitted = fit_mlp(x, y, groups)
    return mlp_forward(fitted.layers, xt)[:, 0], fitted.threshold


def _logistic(
    x: FloatArray, y: npt.NDArray[np.int_], _: Any, xt: FloatArray
) -> tuple[FloatArray, float]:
    model = LogisticRegression(C=1.0, max_iter=5000).fit(x, y)
    return np.asarray(model.predict_proba(xt)[:, 1], dtype=np.float64), 0.5


def _boosting(
    x: FloatArray, y: npt.NDArray[np.int_], _: Any, xt: FloatArray
) -> tuple[FloatArray, float]:
    model = HistGradientBoostingClassifier(random_state=SEED).fit(x, y)
    return np.asarray(model.predict_proba(xt)[:, 1], dtype=np.float64), 0.5


def loso(data: Dataset, x: FloatArray, scorer: Scorer) -> tuple[FloatArray, FloatArray]:
    """Out-of-fold probabilities and the threshold each window's fold chose."""
    p = np.zeros(len(data.stress))
    cut = np.zeros(len(data.stress))
    for subject in np.unique(data.subjects):
        test = data.subjects == subject
        fit = ~test & data.plausible
        p[test], cut[test] = scorer(x[fit], data.stress[fit], data.subjects[fit], x[test])
    return p, cut


def reliability(y: npt.NDArray[np.int_], p: FloatArray, bins: int = 10) -> list[dict[str, Any]]:
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    return [
        {
            "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
            "windows": int(np.sum(index == b)),
            "mean_predicted": float(p[index == b].mean()),
            "observed_stress": float(y[index == b].mean()),
        }
        for b in range(bins)
        if np.any(index == b)
    ]


def evaluate(data: Dataset) -> dict[str, Any]:
    """LOSO metrics per subject and pooled for the (no longer shipped) MLP and both baselines."""
    x = normalise(data)
    after = ~data.calibration
    result: dict[str, Any] = {}
    for name, scorer in (("mlp", _mlp), ("logistic", _logistic), ("boosting", _boosting)):
        start = time.perf_counter()
        p, cut = loso(data, x, scorer)
        result[name] = {
            "overall": metrics(data.stress, p, cut),
            "after_calibration": metrics(data.stress[after], p[after], cut[after]),
            "per_subject": {
                str(s): metrics(data.stress[m], p[m], cut[m])
                for s in np.unique(data.subjects)
                for m in [data.subjects == s]
            },
            "reliability": reliability(data.stress, p),
            "seconds": round(time.perf_counter() - start, 2),
        }
    return result


def _subset(data: Dataset, subjects: list[str]) -> Dataset:
    keep = np.isin(data.subjects, subjects)
    return Dataset(
        data.features,
        data.columns,
        data.values[keep],
        data.stress[keep],
        data.subjects[keep],
        data.calibration[keep],
        data.plausible[keep],
        data.sha256,
    )


#: The settings that choose each bundled file at run time.
VARIANT_SETTINGS: dict[export.Variant, StressModelSettings] = {
    "mean_sd": StressModelSettings(inputs="with_heart"),
    "median_mad": StressModelSettings(baseline="median_mad", inputs="with_heart"),
    "no_heart": StressModelSettings(inputs="without_heart"),
    "no_heart_robust": StressModelSettings(inputs="without_heart", baseline="median_mad"),
}


def run(data_path: Path, out_dir: Path, subjects: list[str] | None = None) -> dict[str, Any]:
    """Nested figures and the shipped model's export; the MLP and baselines for comparison,
    with and without skin temperature."""
    start = time.perf_counter()
    data = load(data_path)
    # the comparison on the table exactly as the previous model was evaluated on it
    before = load(data_path, raw_counts=False)
    warm = load(data_path, with_temperature=True, raw_counts=False)
    if subjects is not None:
        data, before, warm = (_subset(d, subjects) for d in (data, before, warm))
    evaluation = evaluate(before)
    with_temperature = evaluate(warm)
    nested = nested_report(data, normalise(data), data_path.parent / "stress_predict")
    shipped = nested.shipped
    comparison = {
        "note": "NOT the shipped model: leave-one-subject-out without nesting of the feature "
        "choice, normalised against each subject's WESAD baseline condition, of the "
        "38-feature MLP (16 ReLU units) that shipped before and of two baselines",
        "seed": SEED,
        "loso": {name: evaluation[name]["overall"] for name in ("mlp", "logistic", "boosting")}
        | {
            f"{name}_with_temperature": with_temperature[name]["overall"]
            for name in ("mlp", "logistic", "boosting")
        },
    }
    files: dict[export.Variant, tuple[Choice, dict[str, Any]]] = {
        "mean_sd": (shipped, comparison),
        "median_mad": (nested.robust, {}),
        "no_heart": (nested.no_heart, {}),
        "no_heart_robust": (nested.no_heart_robust, {}),
    }

    def write_files() -> None:
        for variant, (choice, compared) in files.items():
            described = export.sidecar(
                choice, data, data_path.name, nested.figures, compared, variant=variant
            )
            export.write(out_dir, choice, described)

    write_files()
    stress_predict = data_path.parent / "stress_predict"
    if stress_predict.is_dir():  # the files just written, through the gateway's own path
        for variant in files:
            nested.figures[replay_key(variant)] = cross_dataset.replay(
                stress_predict, out_dir / export.FILES[variant][0], VARIANT_SETTINGS[variant]
            )
        write_files()  # the same .tflite files; the sidecars now hold the replay figures
    overall = evaluation["mlp"]["overall"]
    return {
        "loso_accuracy": overall["accuracy"],  # the MLP's, a comparison: not the shipped model
        "loso_macro_f1": overall["macro_f1"],
        "loso_auroc": overall["auroc"],
        "loso_brier": overall["brier"],
        "subjects": len(set(data.subjects.tolist())),
        "threshold": shipped.threshold,  # the exported model's
        "exported": export.summary(shipped),
        "exported_robust_baseline": export.summary(nested.robust),
        "exported_without_heart": export.summary(nested.no_heart),
        "exported_without_heart_robust_baseline": export.summary(nested.no_heart_robust),
        "evaluation": evaluation,
        "with_temperature": with_temperature,
        "nested": nested.figures,
        "out_dir": str(out_dir),
        "seconds": round(time.perf_counter() - start, 1),
    }
