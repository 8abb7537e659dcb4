"""numba kernels of the R-peak detector (dsp.ecg), each next to the plain twin a test compares.

Split from dsp.ecg so both modules stay readable; dsp.ecg re-exports them.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: search back once the gap since the last beat exceeds this many median RR intervals
SEARCH_BACK_RR = 1.5
#: second search-back tier: between the last beat's T-wave window and the refractory period
#: before the next candidate, a beat this fraction of the threshold (half PT's lower threshold)
WIDE_SEARCH = 0.25


@numba.njit(cache=True)
def _local_peaks_kernel(x: FloatArray, half: int) -> IntArray:
    """Indices i where x[i] is the first maximum of x[i-half : i+half+1]."""
    n = x.shape[0]
    out = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):
        v = x[i]
        if (i > 0 and x[i - 1] >= v) or (i + 1 < n and x[i + 1] > v):
            continue
        ok = True
        for j in range(max(0, i - half), min(n, i + half + 1)):
            if x[j] > v or (j < i and x[j] == v):
                ok = False
                break
        if ok:
            out[count] = i
            count += 1
    return out[:count]


def local_peaks_reference(x: FloatArray, half: int) -> IntArray:
    """numpy twin of the candidate kernel."""
    idx = [
        i
        for i in range(x.size)
        if x[i] == x[max(0, i - half) : i + half + 1].max()
        and not np.any(x[max(0, i - half) : i] == x[i])
    ]
    return np.asarray(idx, dtype=np.int64)


@numba.njit(cache=True)
def _decide_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    idx: IntArray,
    amp: FloatArray,
    slope: FloatArray,
    spki0: float,
    npki0: float,
    refractory: int,
    t_wave: int,
    rr0: float,
    stale: int = 0,
) -> BoolArray:
    """Pan-Tompkins decisions over candidates: adaptive thresholds, T-wave check, search-back.

    stale > 0: after that many samples without a beat that search-back cannot fill, the levels
    restart from the candidates of those samples (max as signal, median as noise), the way a
    detector must recover when a burst of motion artefact has pushed them out of reach.
    The whole record is one decide_span_kernel call from the initial state; the streaming
    engine (dsp.ecg.stream) makes the same calls span by span, carrying the state between them.
    """
    n = idx.shape[0]
    is_qrs = np.zeros(n, dtype=np.bool_)
    levels = np.array([spki0, npki0])
    rr_hist = np.full(8, rr0)
    anchor = idx[0] if n > 0 else 0  # sample the levels were last (re)started at
    decide_span_kernel(idx, amp, slope, 0, n, levels, rr_hist, -1, anchor, is_qrs,
                       refractory, t_wave, stale)  # fmt: skip
    return is_qrs


@numba.njit(cache=True)
def _search_back(  # noqa: PLR0917 - numba takes no keyword-only arguments
    idx: IntArray, amp: FloatArray, last: int, k: int, thr1: float, refractory: int, t_wave: int
) -> int:
    """The missed beat between QRS `last` and candidate k, or -1: the largest candidate past the
    refractory period above half the threshold (Pan-Tompkins); failing that, the largest one
    past the last beat's T-wave window and a refractory period before k above WIDE_SEARCH of it
    (a wide PVC or a small complex has little 5-15 Hz energy, and no T wave lies there)."""
    best = -1
    for j in range(last + 1, k):
        late = idx[j] - idx[last] > refractory
        if late and amp[j] > 0.5 * thr1 and (best < 0 or amp[j] > amp[best]):
            best = j
    if best < 0:
        for j in range(last + 1, k):
            inside = idx[j] - idx[last] > t_wave and idx[k] - idx[j] > refractory
            if inside and amp[j] > WIDE_SEARCH * thr1 and (best < 0 or amp[j] > amp[best]):
                best = j
    return best


@numba.njit(cache=True)
def decide_span_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    idx: IntArray,
    amp: FloatArray,
    slope: FloatArray,
    k0: int,
    k1: int,
    levels: FloatArray,
    rr_hist: FloatArray,
    last: int,
    anchor: int,
    is_qrs: BoolArray,
    refractory: int,
    t_wave: int,
    stale: int,
) -> tuple[int, int]:
    """_decide_kernel's loop over candidates k0 <= k < k1 from a given state: levels [spki,
    npki] and rr_hist (updated in place), the candidate number of the last QRS (-1: none) and
    the restart anchor (a sample). Marks is_qrs (search-back may mark a candidate before k0);
    returns the state's (last, anchor) after candidate k1 - 1."""
    spki, npki = levels[0], levels[1]
    for k in range(k0, k1):
        thr1 = npki + 0.25 * (spki - npki)
        if last >= 0 and idx[k] - idx[last] > SEARCH_BACK_RR * np.median(rr_hist):
            best = _search_back(idx, amp, last, k, thr1, refractory, t_wave)
            if best >= 0:
                is_qrs[best] = True
                spki = 0.25 * amp[best] + 0.75 * spki
                rr_hist[:-1] = rr_hist[1:]
                rr_hist[-1] = idx[best] - idx[last]
                last = best
                thr1 = npki + 0.25 * (spki - npki)
        since = idx[last] if last >= 0 else anchor
        if stale > 0 and idx[k] - since > stale:
            lo = k
            while lo > 0 and idx[k] - idx[lo - 1] <= stale:
                lo -= 1
            spki = amp[lo : k + 1].max()
            npki = np.median(amp[lo : k + 1])
            thr1 = npki + 0.25 * (spki - npki)
            last = -1  # a fresh start: no interval spans the gap
            anchor = idx[k]
        if last >= 0 and idx[k] - idx[last] <= refractory:
            continue
        if amp[k] > thr1:
            if last >= 0 and idx[k] - idx[last] < t_wave and slope[k] < 0.5 * slope[last]:
                npki = 0.125 * amp[k] + 0.875 * npki
                continue
            is_qrs[k] = True
            spki = 0.125 * amp[k] + 0.875 * spki
            if last >= 0:
                rr_hist[:-1] = rr_hist[1:]
                rr_hist[-1] = idx[k] - idx[last]
            last = k
        else:
            npki = 0.125 * amp[k] + 0.875 * npki
    levels[0], levels[1] = spki, npki
    return last, anchor


def decide_reference(
    idx: IntArray,
    amp: FloatArray,
    slope: FloatArray,
    *,
    spki0: float,
    npki0: float,
    refractory: int,
    t_wave: int,
    rr0: float,
    stale: int = 0,
) -> BoolArray:
    """Plain-Python twin of the decision kernel, kept for the equality test."""
    is_qrs = np.zeros(idx.size, dtype=bool)
    spki, npki, rr_hist, last = spki0, npki0, [rr0] * 8, -1
    anchor = int(idx[0]) if idx.size else 0

    def thr() -> float:
        return npki + 0.25 * (spki - npki)

    for k in range(idx.size):
        if last >= 0 and idx[k] - idx[last] > SEARCH_BACK_RR * float(np.median(rr_hist)):
            missed = [
                j
                for j in range(last + 1, k)
                if idx[j] - idx[last] > refractory and amp[j] > 0.5 * thr()
            ] or [
                j
                for j in range(last + 1, k)
                if idx[j] - idx[last] > t_wave
                and idx[k] - idx[j] > refractory
                and amp[j] > WIDE_SEARCH * thr()
            ]
            if missed:
                best = max(missed, key=lambda j: (amp[j], -j))
                is_qrs[best] = True
                spki = 0.25 * amp[best] + 0.75 * spki
                rr_hist = [*rr_hist[1:], float(idx[best] - idx[last])]
                last = best
        since = idx[last] if last >= 0 else anchor
        if stale > 0 and idx[k] - since > stale:
            recent = [amp[j] for j in range(k + 1) if idx[k] - idx[j] <= stale]
            spki, npki = max(recent), float(np.median(recent))
            last, anchor = -1, int(idx[k])
        if last >= 0 and idx[k] - idx[last] <= refractory:
            continue
        is_t = last >= 0 and idx[k] - idx[last] < t_wave and slope[k] < 0.5 * slope[last]
        if amp[k] > thr() and not is_t:
            is_qrs[k] = True
            spki = 0.125 * amp[k] + 0.875 * spki
            if last >= 0:
                rr_hist = [*rr_hist[1:], float(idx[k] - idx[last])]
            last = k
        else:
            npki = 0.125 * amp[k] + 0.875 * npki
    return is_qrs


@numba.njit(cache=True)
def _energy_kernel(band: FloatArray, width: int) -> tuple[FloatArray, FloatArray]:
    """|np.gradient(band)| and the centred moving mean of its square over `width` samples.

    One pass with a running sum instead of np.convolve's width multiplications per sample;
    windows are zero-padded at the ends and divided by width, exactly like mode="same".
    """
    n = band.shape[0]
    slope = np.empty(n)
    energy = np.empty(n)
    slope[0] = abs(band[1] - band[0])
    slope[n - 1] = abs(band[n - 1] - band[n - 2])
    for i in range(1, n - 1):
        slope[i] = abs(band[i + 1] - band[i - 1]) / 2.0
    lo_off, hi_off = width // 2, (width - 1) - width // 2  # window [i - lo_off, i + hi_off]
    acc = 0.0
    for j in range(min(hi_off, n - 1) + 1):
        acc += slope[j] * slope[j]
    for i in range(n):
        energy[i] = acc / width
        enter, leave = i + hi_off + 1, i - lo_off
        if enter < n:
            acc += slope[enter] * slope[enter]
        if leave >= 0:
            acc -= slope[leave] * slope[leave]
    return slope, energy


def energy_reference(band: FloatArray, width: int) -> tuple[FloatArray, FloatArray]:
    """numpy twin of the energy kernel (the detector's original formulation)."""
    deriv = np.gradient(band)
    mwi: FloatArray = np.convolve(deriv**2, np.ones(width) / width, mode="same")
    return np.abs(deriv), mwi


@numba.njit(cache=True)
def _window_argmax(x: FloatArray, centres: IntArray, half: int) -> IntArray:
    """For each centre, the index of the (first) maximum of x within +-half samples (clipped)."""
    n = x.shape[0]
    out = np.empty(centres.shape[0], dtype=np.int64)
    for k in range(centres.shape[0]):
        lo, hi = max(0, centres[k] - half), min(n, centres[k] + half + 1)
        best = lo
        for j in range(lo + 1, hi):
            if x[j] > x[best]:
                best = j
        out[k] = best
    return out


def window_argmax_reference(x: FloatArray, centres: IntArray, half: int) -> IntArray:
    """numpy twin of the window-argmax kernel."""
    padded = np.concatenate((np.full(half, -np.inf), x, np.full(half, -np.inf)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)[centres]
    best: IntArray = (centres - half + np.argmax(windows, axis=1)).astype(np.int64)
    return best


@numba.njit(cache=True)
def block_means_kernel(x: FloatArray, factor: int) -> FloatArray:
    """Means of consecutive blocks of `factor` samples (a trailing partial block is dropped)."""
    blocks = x.shape[0] // factor
    out = np.empty(blocks)
    for b in range(blocks):
        acc = 0.0
        for j in range(b * factor, (b + 1) * factor):
            acc += x[j]
        out[b] = acc / factor
    return out


def block_means_reference(x: FloatArray, factor: int) -> FloatArray:
    """numpy twin of the block-mean kernel."""
    blocks = x.size // factor
    out: FloatArray = x[: blocks * factor].reshape(blocks, factor).mean(axis=1)
    return out


def refine_reference(
    x: FloatArray, baseline: FloatArray, factor: int, centres: IntArray, half: int
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """numpy twin of the refinement kernel: the whole x - baseline, then both window extrema.

    Coarse sample k stands for the centre of block k, full-rate position k * factor +
    (factor - 1) / 2; np.interp holds the ends.
    """
    positions = np.arange(baseline.size) * factor + (factor - 1) / 2.0
    hp = x - np.interp(np.arange(x.size, dtype=np.float64), positions, baseline)
    up = window_argmax_reference(hp, centres, half)
    down = window_argmax_reference(-hp, centres, half)
    return up, down, hp[up], hp[down]


@numba.njit(cache=True)
def refine_kernel(
    x: FloatArray, baseline: FloatArray, factor: int, centres: IntArray, half: int
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Per centre, the first maximum and first minimum of x - baseline within +-half samples.

    minus_baseline_kernel evaluated only inside the windows (a few % of the samples): returns
    the indices and values of both extrema, as _window_argmax on (x - b) and on -(x - b) would.
    """
    n, m = x.shape[0], baseline.shape[0]
    offset = (factor - 1) / 2.0
    count = centres.shape[0]
    up = np.empty(count, dtype=np.int64)
    down = np.empty(count, dtype=np.int64)
    up_val = np.empty(count)
    down_val = np.empty(count)
    for c in range(count):
        lo, hi = max(0, centres[c] - half), min(n, centres[c] + half + 1)
        for i in range(lo, hi):
            pos = (i - offset) / factor
            if pos <= 0.0:
                level = baseline[0]
            elif pos >= m - 1:
                level = baseline[m - 1]
            else:
                k = int(pos)
                level = baseline[k] + (baseline[k + 1] - baseline[k]) * (pos - k)
            v = x[i] - level
            if i == lo or v > up_val[c]:
                up[c], up_val[c] = i, v
            if i == lo or v < down_val[c]:
                down[c], down_val[c] = i, v
    return up, down, up_val, down_val
