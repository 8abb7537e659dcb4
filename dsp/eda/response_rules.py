"""Which rises of skin conductance count as skin-conductance responses (SCRs).

The slope detector (dsp.eda.detect) finds every rise: where the smoothed slope climbs above
0.01 µS/s, from the lowest to the highest sample around it. A rise is an SCR when, as the
literature defines one (Boucsein 2012; Dawson, Schell & Filion 2017; Braithwaite et al. 2013):

* it rises from onset to peak within MAX_RISE_S (4 s). SCR rise times are 1-3 s; a longer climb
  is a drift of the tonic level or several responses run together, and counting it as one
  response mislocates it. 4 s is the onset window EDA-Explorer (Taylor et al. 2015) searches;
* its amplitude above the tonic level reaches the floor: the rise minus what the tonic level
  (a zero-phase 0.05 Hz low-pass, as in NeuroKit2 and AcqKnowledge) rose over the same span.
  A small wiggle on a rising baseline is not a response; a falling baseline is not credited,
  so the amplitude counted is never more than the trough-to-peak rise. Crediting a falling
  tonic (the phasic rise the decomposition tools measure) was tried on 2026-12-04: 7 more of
  the tool consensus's responses, but more false ones on flat and noisy stretches (3 and 17
  against 1 and 15), so it is not done;
* that amplitude also stands out of the noise: at least NOISE_MULTIPLE (3) robust standard
  deviations of the sample-to-sample change within NOISE_WINDOW_S (30 s) of the peak. On clean
  recordings the 0.05 µS floor is far above this; on noisy stretches (motion, loose contact) it
  is the rule that holds. It is a partial guard: the 1 Hz low-pass makes neighbouring samples
  alike, so a rise of noise spanning several samples can still pass it (white noise: about
  60 % fewer false responses than the floor alone, tests/dsp/test_eda_response_rules.py). The
  spread of the change over the rise's own span would be stricter, but within 30 s of real
  responses it counts the responses themselves as noise (recall against the tool consensus
  fell from 0.88 to 0.79 when tried).

Rises whose peaks are closer than MERGE_S (2 s) are one response: an SCR rises for 1-3 s and
then recovers, so a second peak within 2 s is a notch in one rise (noise, or the slope's
smoothing), not a second response; they are joined from the first onset to the higher peak.
The validation bench's matching and its tool consensus take peaks within the same 2 s as one
response.

Everything here runs inside one numba call, so the live count (dsp.eda.skin_kernel) and
detect_scrs apply the same arithmetic.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from dsp.filters import sosfiltfilt_kernel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MAX_RISE_S = 4.0
TONIC_HZ = 0.05
NOISE_MULTIPLE = 3.0
NOISE_WINDOW_S = 30.0
MERGE_S = 2.0
_MAD_TO_SD = 1.4826  # a normal distribution's standard deviation per median absolute deviation


@numba.njit(cache=True)
def tonic_kernel(x: FloatArray, fs: float) -> FloatArray:
    """x low-passed at TONIC_HZ, zero-phase, by a 2nd-order Butterworth (bilinear transform with
    pre-warping, in closed form; odd-extended by 9 samples as scipy's sosfiltfilt does)."""
    n = x.shape[0]
    if n < 2 or not fs > 2.0 * TONIC_HZ:
        return x.copy()
    k = math.tan(math.pi * TONIC_HZ / fs)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    sos = np.empty((1, 6))
    sos[0, 0] = k * k * norm
    sos[0, 1] = 2.0 * sos[0, 0]
    sos[0, 2] = sos[0, 0]
    sos[0, 3] = 1.0
    sos[0, 4] = 2.0 * (k * k - 1.0) * norm
    sos[0, 5] = (1.0 - math.sqrt(2.0) * k + k * k) * norm
    return sosfiltfilt_kernel(sos, x, min(9, n - 1))


@numba.njit(cache=True)
def noise_sd_kernel(x: FloatArray, lo: int, hi: int) -> float:
    """Robust standard deviation (1.4826 x MAD) of x's sample-to-sample changes in [lo, hi)."""
    m = hi - lo - 1
    if m < 2:
        return 0.0
    steps = np.empty(m)
    for i in range(m):
        steps[i] = x[lo + i + 1] - x[lo + i]
    centre = np.median(steps)
    return _MAD_TO_SD * float(np.median(np.abs(steps - centre)))


@numba.njit(cache=True)
def stands_out_kernel(x: FloatArray, lo: int, hi: int, amplitude: float) -> bool:
    """amplitude >= NOISE_MULTIPLE * noise_sd_kernel(x, lo, hi), exactly, mostly without the
    two medians: when a strict majority of the changes lie within ``bound`` of zero, the median
    change lies there too and the median absolute deviation is at most 2 * bound (IEEE rounding
    is monotonic), so a bound the amplitude clears decides it in one pass. The medians are
    half the gateway's EDA cost otherwise; tests/dsp/test_eda_response_rules.py holds this
    equal to the plain rule."""
    m = hi - lo - 1
    if m >= 2:
        bound = amplitude / (2.0 * NOISE_MULTIPLE * _MAD_TO_SD)
        if amplitude >= NOISE_MULTIPLE * (_MAD_TO_SD * (2.0 * bound)):
            within = 0
            for i in range(lo, hi - 1):
                if abs(x[i + 1] - x[i]) <= bound:
                    within += 1
            if 2 * within > m:
                return True
    return amplitude >= NOISE_MULTIPLE * noise_sd_kernel(x, lo, hi)


@numba.njit(cache=True)
def response_mask_kernel(
    x: FloatArray, fs: float, onsets: IntArray, peaks: IntArray, min_amplitude: float
) -> BoolArray:
    """Which (onset, peak) rises on the low-passed x are SCRs by the rules above."""
    keep = np.zeros(peaks.shape[0], dtype=np.bool_)
    if peaks.shape[0] == 0:
        return keep
    tonic = np.zeros(0)  # made for the first rise the tonic level can decide (same values)
    reach = round(NOISE_WINDOW_S * fs)
    n = x.shape[0]
    for k in range(peaks.shape[0]):
        o, p = onsets[k], peaks[k]
        if (p - o) / fs > MAX_RISE_S:
            continue
        rise = x[p] - x[o]
        if rise < min_amplitude:  # the tonic level only ever lowers the amplitude
            continue
        if tonic.shape[0] == 0:
            tonic = tonic_kernel(x, fs)
        amplitude = rise - max(0.0, tonic[p] - tonic[o])
        if amplitude < min_amplitude:
            continue
        keep[k] = stands_out_kernel(x, max(0, p - reach), min(n, p + reach + 1), amplitude)
    return keep


@numba.njit(cache=True)
def merge_close_kernel(
    x: FloatArray, fs: float, onsets: IntArray, peaks: IntArray
) -> tuple[IntArray, IntArray]:
    """Responses (sorted by peak) with peaks closer than MERGE_S joined into one: the first
    onset, the highest sample up to the later peak, the lowest sample before that."""
    n = peaks.shape[0]
    out_on = np.empty(n, dtype=np.int64)
    out_pk = np.empty(n, dtype=np.int64)
    gap = MERGE_S * fs
    m = 0
    for k in range(n):
        if m > 0 and peaks[k] - out_pk[m - 1] < gap:
            o = out_on[m - 1]
            p = o + np.argmax(x[o : peaks[k] + 1])
            out_pk[m - 1] = p
            out_on[m - 1] = o + np.argmin(x[o : p + 1])
        else:
            out_on[m] = onsets[k]
            out_pk[m] = peaks[k]
            m += 1
    return out_on[:m], out_pk[:m]
