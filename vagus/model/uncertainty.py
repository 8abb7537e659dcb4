"""How far a nested figure could move with other subjects: a subject-level bootstrap.

Twelve subjects are a small sample, and a subject's windows are not independent of each other
(60 s windows of one sitting share the person, the sensor's contact and the order of the
tasks), so an interval over windows would be far too narrow. The unit resampled is therefore
the subject: each of ``RESAMPLES`` draws takes as many subjects as there are, with
replacement, pools their windows and recomputes the figure; the interval is the 2.5th and
97.5th percentile of the draws (a percentile bootstrap, Efron & Tibshirani 1993, ch. 13).

Accuracy, macro-F1 and the expected calibration error are all sums over windows, so each
subject is reduced once to its confusion counts and its per-bin sums, and a draw is a weighted
sum of those rows: every draw together costs one matrix product. With each subject drawn once,
the figures equal sklearn's accuracy_score and f1_score(average="macro") and
vagus.model.nested.expected_calibration_error (tests/model/test_uncertainty.py: one subject
makes every draw that subject, so its interval is the point figure).

The worst subject has no such interval: a minimum over resampled subjects says more about how
many subjects were drawn than about any one of them. Its window count is reported instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

RESAMPLES = 2000
#: Fixed so that `vagus model train` prints the same interval every run.
SEED = 15
LEVEL = 0.95


def _per_subject_sums(
    y: npt.NDArray[Any],
    predicted: npt.NDArray[Any],
    p: FloatArray,
    subjects: npt.NDArray[Any],
    bins: int,
) -> FloatArray:
    """One row a subject: tp, fp, fn, tn, windows, then per bin: windows, sum of p, sum of y."""
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    rows = []
    for subject in np.unique(subjects):
        m = subjects == subject
        truth, said = y[m].astype(bool), predicted[m].astype(bool)
        counts = [(truth & said).sum(), (~truth & said).sum(), (truth & ~said).sum()]
        counts += [(~truth & ~said).sum(), m.sum()]
        per_bin = np.column_stack(
            [
                np.bincount(index[m], minlength=bins),
                np.bincount(index[m], weights=p[m], minlength=bins),
                np.bincount(index[m], weights=truth.astype(np.float64), minlength=bins),
            ]
        )
        rows.append(np.concatenate((np.asarray(counts, dtype=np.float64), per_bin.ravel())))
    return np.vstack(rows)


def resampled_sums(rows: FloatArray, *, resamples: int = RESAMPLES, seed: int = SEED) -> FloatArray:
    """Each of ``resamples`` draws of as many rows as there are, with replacement, summed
    column by column (draws x columns): the bootstrap of any figure that is a sum over units.
    bench/validation/eda_consensus.py draws its SCR blocks with it too."""
    k = rows.shape[0]
    draws = np.random.default_rng(seed).multinomial(k, np.full(k, 1.0 / k), size=resamples)
    sums: FloatArray = draws.astype(np.float64) @ rows
    return sums


def _figures(sums: FloatArray, bins: int) -> dict[str, FloatArray]:
    """Accuracy, macro-F1 and ECE of each row of pooled sums (draws x columns)."""
    tp, fp, fn, tn, n = (sums[:, k] for k in range(5))
    accuracy = (tp + tn) / n
    f1s = []
    for hits, wrong in ((tp, fp + fn), (tn, fp + fn)):
        total = 2 * hits + wrong
        # a class that is neither present nor predicted is left out of the average, as sklearn does
        f1s.append(np.where(total > 0, 2 * hits / np.maximum(total, 1), np.nan))
    macro_f1 = np.nanmean(np.vstack(f1s), axis=0)
    per_bin = sums[:, 5:].reshape(len(sums), bins, 3)
    ece = np.abs(per_bin[:, :, 1] - per_bin[:, :, 2]).sum(axis=1) / n
    return {"accuracy": accuracy, "macro_f1": macro_f1, "ece": ece}


def subject_bootstrap(
    y: npt.NDArray[Any],
    predicted: npt.NDArray[Any],
    p: FloatArray,
    subjects: npt.NDArray[Any],
    bins: int,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """95 % percentile intervals of pooled accuracy, macro-F1 and ECE over subject resamples."""
    rows = _per_subject_sums(y, predicted, p, subjects, bins)
    k = rows.shape[0]
    figures = _figures(resampled_sums(rows, resamples=resamples, seed=seed), bins)
    tail = 100.0 * (1.0 - LEVEL) / 2.0
    out: dict[str, Any] = {
        name: [float(v) for v in np.nanpercentile(values, [tail, 100.0 - tail])]
        for name, values in figures.items()
    }
    out["method"] = (
        f"{LEVEL:.0%} percentile interval over {resamples} draws of {k} subjects with "
        f"replacement (seed {seed})"
    )
    return out
