"""The R-peak detector recovers after a burst of motion artefact has pushed its levels out of reach.

The Polar H10 ride (../shared/data/ble) starts with ~18 mV strap-settling artefacts; before the
restart rule the detector found 62 beats in 20 minutes of clean exercise ECG after them.
"""

from __future__ import annotations

import warnings

import neurokit2 as nk
import numpy as np

from dsp.ecg.peaks import _decide_kernel, _local_peaks_kernel, decide_reference, detect_r_peaks


def test_decide_kernel_matches_reference_with_restarts() -> None:
    rng = np.random.default_rng(5)
    x = np.convolve(rng.standard_normal(4000) ** 2, np.ones(9) / 9, mode="same")
    x[:300] *= 200.0  # a burst that sets the levels far too high
    idx = _local_peaks_kernel(x, 10)
    amp = np.ascontiguousarray(x[idx])
    slope = rng.uniform(0.5, 1.5, idx.size)
    restarts = 0
    for stale in (0, 150, 400):
        kernel = _decide_kernel(idx, amp, slope, amp.max(), 0.0, 20, 60, 80.0, stale)
        reference = decide_reference(
            idx,
            amp,
            slope,
            spki0=amp.max(),
            npki0=0.0,
            refractory=20,
            t_wave=60,
            rr0=80.0,
            stale=stale,
        )
        np.testing.assert_array_equal(kernel, reference)
        restarts += int(kernel[idx > 300].sum())
    assert restarts > 0  # the restart branch was taken and found beats after the burst


def test_strap_ecg_after_an_artefact_burst() -> None:
    fs = 130
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ecg = nk.ecg_simulate(duration=120, sampling_rate=fs, heart_rate=120, random_state=2)
    clean = detect_r_peaks(ecg, fs)
    burst = ecg.copy()
    rng = np.random.default_rng(0)
    burst[: 8 * fs] += np.cumsum(rng.normal(0, 1.5, 8 * fs))  # 8 s of electrode motion
    burst[2 * fs : 2 * fs + 20] += 40.0  # and a rail-to-rail step
    peaks = detect_r_peaks(burst, fs)
    span = slice(20 * fs, 115 * fs)  # levels differ after the restart; they converge by 20 s

    def inside(p: np.ndarray) -> np.ndarray:
        return p[(p >= span.start) & (p < span.stop)]

    print(f"beats 20-115 s: {inside(peaks).size} with the burst, {inside(clean).size} clean")
    assert inside(clean).size > 180
    np.testing.assert_array_equal(inside(peaks), inside(clean))
