"""numba kernels of the Lipponen & Tarvainen (2019) RR artefact classifier, with plain twins.

Split from dsp.hrv.rr_correction so each module stays readable; the public API lives there.
Label codes are shared: see ``LABEL_NAMES`` in dsp.hrv.rr_correction.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from dsp.filters import lower_bound_in, upper_bound_in

FloatArray = npt.NDArray[np.float64]
LabelArray = npt.NDArray[np.int8]

NORMAL, ECTOPIC, LONG, SHORT, MISSED, EXTRA = 0, 1, 2, 3, 4, 5


@numba.njit(cache=True)
def _sorted_quantile(s: FloatArray, m: int, q: float) -> float:
    """Linear-interpolated q-quantile of the first m (sorted) values: numpy's and pandas' rule."""
    pos = q * (m - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, m - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


@numba.njit(cache=True)
def _replace_sorted(buf: FloatArray, m: int, old: float, new: float) -> None:
    """buf[:m] sorted, with one copy of old (present) swapped for new: both places found by
    binary search, and only the elements between them shift (a loop without comparisons)."""
    j = lower_bound_in(buf, 0, m, old)
    if new >= old:
        to = max(lower_bound_in(buf, 0, m, new) - 1, j)
        for k in range(j, to):
            buf[k] = buf[k + 1]
    else:
        to = upper_bound_in(buf, 0, m, new)
        for k in range(j, to, -1):
            buf[k] = buf[k - 1]
    buf[to] = new


@numba.njit(cache=True)
def rolling_quantiles_kernel(x: FloatArray, half: int, qs: FloatArray) -> FloatArray:
    """Quantiles qs of finite x over the centred window [i-half, i+half], clipped at the ends.

    Keeps the window sorted and moves it one sample at a time (the leaving value replaced by
    the entering one where both move, plain insertion or deletion at the ends), O(n * window)
    instead of sorting every window. A sorted window is the same array however it was built,
    so the quantiles equal np.quantile's.
    """
    n = x.shape[0]
    out = np.empty((qs.shape[0], n))
    buf = np.empty(2 * half + 1)
    m = 0
    lo_in = 0  # x[lo_in:hi_in] is in buf
    hi_in = 0
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        while lo_in < lo and hi_in < hi:  # one leaves, one enters
            _replace_sorted(buf, m, x[lo_in], x[hi_in])
            lo_in += 1
            hi_in += 1
        while hi_in < hi:  # insert x[hi_in]
            v = x[hi_in]
            k = upper_bound_in(buf, 0, m, v)
            for t in range(m, k, -1):
                buf[t] = buf[t - 1]
            buf[k] = v
            m += 1
            hi_in += 1
        while lo_in < lo:  # delete x[lo_in]
            k = lower_bound_in(buf, 0, m, x[lo_in])
            for t in range(k, m - 1):
                buf[t] = buf[t + 1]
            m -= 1
            lo_in += 1
        for j in range(qs.shape[0]):
            out[j, i] = _sorted_quantile(buf, m, qs[j])
    return out


@numba.njit(cache=True)
def _subspace_kernel(drr: FloatArray) -> tuple[FloatArray, FloatArray]:
    """S12 and S22 of the normalised dRR series (n >= 3), padded by reflection at both ends."""
    n = drr.shape[0]
    pad = np.empty(n + 4)
    pad[2 : n + 2] = drr
    pad[1], pad[0] = drr[1], drr[2]
    pad[n + 2], pad[n + 3] = drr[n - 2], drr[n - 3]
    s12 = np.zeros(n)
    s22 = np.zeros(n)
    for i in range(n):
        d, before, after, after2 = pad[i + 2], pad[i + 1], pad[i + 3], pad[i + 4]
        if d > 0:
            s12[i] = max(before, after)
        elif d < 0:
            s12[i] = min(before, after)
        s22[i] = min(after, after2) if d >= 0 else max(after, after2)
    return s12, s22


@numba.njit(cache=True)
def classify_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    rr: FloatArray,
    drr: FloatArray,
    mrr: FloatArray,
    med_rr: FloatArray,
    th2: FloatArray,
    c1: float,
    c2: float,
) -> LabelArray:
    """Figure 1 of Lipponen & Tarvainen (2019) over normalised dRR (drr) and mRR (mrr)."""
    n = rr.shape[0]
    s12, s22 = _subspace_kernel(drr)
    labels = np.zeros(n, dtype=np.int8)
    i = 0
    while i < n - 2:
        if abs(drr[i]) <= 1.0:
            i += 1
            continue
        if (drr[i] > 1.0 and s12[i] < -c1 * drr[i] - c2) or (
            drr[i] < -1.0 and s12[i] > -c1 * drr[i] + c2
        ):
            labels[i] = ECTOPIC
            i += 1
            continue
        n_cand = 2 if abs(drr[i + 1]) < abs(drr[i + 2]) else 1
        for j in range(i, i + n_cand):
            is_long = drr[j] > 1.0 and s22[j] < -1.0
            is_short = drr[j] < -1.0 and s22[j] > 1.0
            is_far = abs(mrr[j]) > 3.0
            i += 1
            if not (is_long or is_short or is_far):
                continue
            if is_short and abs(rr[j] + rr[j + 1] - med_rr[j]) < th2[j]:
                labels[j] = EXTRA
            elif is_long and abs(rr[j] / 2.0 - med_rr[j]) < th2[j]:
                labels[j] = MISSED
            elif is_long or (not is_short and mrr[j] > 0):
                labels[j] = LONG
            else:
                labels[j] = SHORT
    return labels


@numba.njit(cache=True)
def detect_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    rr: FloatArray,
    alpha: float,
    c1: float,
    c2: float,
    half: int,
    median_beats: int,
    floor: float,
) -> LabelArray:
    """dsp.hrv.rr_correction.detect_rr_artefacts' whole pipeline in one call (its numpy steps
    are the twin, tests/reference/hrv.py's detect_rr_artefacts_reference): the gateway runs it
    every window, where two dozen small numpy calls cost more than the arithmetic."""
    n = rr.shape[0]
    med_rr = rolling_quantiles_kernel(rr, median_beats // 2, np.array([0.5]))[0]
    drr = np.empty(n)
    drr[0] = rr[0] - np.median(rr[:median_beats])
    for i in range(1, n):
        drr[i] = rr[i] - rr[i - 1]
    mrr = rr - med_rr
    for i in range(n):
        if mrr[i] < 0:
            mrr[i] *= 2.0
    quartiles = np.array([0.25, 0.75])
    q1 = rolling_quantiles_kernel(np.abs(drr), half, quartiles)
    q2 = rolling_quantiles_kernel(np.abs(mrr), half, quartiles)
    th1 = alpha * np.maximum((q1[1] - q1[0]) / 2.0, floor)
    th2 = alpha * np.maximum((q2[1] - q2[0]) / 2.0, floor)
    return classify_kernel(rr, drr / th1, mrr / th2, med_rr, th2, c1, c2)
