"""Lomb-Scargle (PCST convention) and Welch HRV spectra: kernels, scipy twins, known sinusoids."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import interpolate, signal

from dsp.hrv.frequency import (
    HF_HZ,
    LF_HZ,
    PCST_FREQS_HZ,
    _lomb_kernel,
    band_power,
    frequency_domain,
    lomb_psd,
    natural_cubic_spline,
    welch_psd,
)
from tests.reference.hrv import lomb_reference


def _tachogram(
    seed: int, mean_ms: float = 800.0, n: int = 400
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Uneven beat times with 0.1 Hz (LF) and 0.25 Hz (HF) modulation of known amplitude."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(mean_ms / 1000 + 0.02 * rng.standard_normal(n))
    a_lf, a_hf = 40.0, 20.0
    nn = mean_ms + a_lf * np.sin(2 * np.pi * 0.1 * t) + a_hf * np.sin(2 * np.pi * 0.25 * t)
    return t, nn, a_lf, a_hf


def test_kernel_matches_reference() -> None:
    t, nn, *_ = _tachogram(0)
    y = nn - nn.mean()
    np.testing.assert_allclose(
        _lomb_kernel(t, y, PCST_FREQS_HZ), lomb_reference(t, y, PCST_FREQS_HZ), rtol=1e-9
    )


def test_pcst_scaling_is_twice_scipy_unnormalised() -> None:
    t, nn, *_ = _tachogram(1)
    ours = lomb_psd(t, nn)
    theirs = signal.lombscargle(t, nn - nn.mean(), 2 * np.pi * PCST_FREQS_HZ)
    np.testing.assert_allclose(ours, 2 * theirs, rtol=1e-8)


def test_pcst_grid_and_closed_bands() -> None:
    assert PCST_FREQS_HZ[0] == 1 / 1024 and PCST_FREQS_HZ[-1] == 0.5 and PCST_FREQS_HZ.size == 512
    psd = np.ones(PCST_FREQS_HZ.size)
    # LF holds bins 41..153, HF 154..409: no bin lies on an edge, none counted twice
    assert band_power(PCST_FREQS_HZ, psd, LF_HZ) == pytest.approx(113 / 1024)
    assert band_power(PCST_FREQS_HZ, psd, HF_HZ) == pytest.approx(256 / 1024)


@pytest.mark.parametrize("mean_ms", [600.0, 1000.0])
def test_known_sinusoids(mean_ms: float) -> None:
    t, nn, a_lf, a_hf = _tachogram(2, mean_ms)
    pcst = frequency_domain(t, nn)
    dens = frequency_domain(t, nn, scaling="density")
    welch = frequency_domain(t, nn, method="welch")
    for hrv in (pcst, dens, welch):
        assert hrv.lf_hf == pytest.approx(a_lf**2 / a_hf**2, rel=0.1)
    # density scaling and Welch give a component's variance; PCST's is that x beats per second
    assert dens.lf_ms2 == pytest.approx(a_lf**2 / 2, rel=0.05)
    assert dens.hf_ms2 == pytest.approx(a_hf**2 / 2, rel=0.05)
    assert welch.lf_ms2 == pytest.approx(a_lf**2 / 2, rel=0.1)
    assert pcst.lf_ms2 == pytest.approx(dens.lf_ms2 * 1000 / nn.mean(), rel=1e-9)


def test_welch_matches_scipy_on_the_resampled_series() -> None:
    t, nn, *_ = _tachogram(3)
    freqs, psd = welch_psd(t, nn)
    x = interpolate.CubicSpline(t, nn, bc_type="natural")(np.arange(t[0], t[-1], 0.25))
    f_ref, p_ref = signal.welch(x, fs=4.0, nperseg=256, noverlap=128)
    np.testing.assert_allclose(freqs, f_ref)
    np.testing.assert_allclose(psd, p_ref, rtol=1e-7)


def test_spline_matches_scipy() -> None:
    t, nn, *_ = _tachogram(4, n=50)
    grid = np.linspace(t[0], t[-1], 777)
    ref = interpolate.CubicSpline(t, nn, bc_type="natural")(grid)
    np.testing.assert_allclose(natural_cubic_spline(t, nn, grid), ref, rtol=1e-10)
    three = natural_cubic_spline(np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 0.0]), grid[:5])
    assert np.all(np.isfinite(three))


def test_degenerate_and_invalid_input() -> None:
    short = frequency_domain(np.arange(5.0), np.full(5, 800.0))
    assert np.isnan(short.lf_ms2) and np.isnan(short.lf_hf)
    with pytest.raises(ValueError, match="same length"):
        frequency_domain(np.arange(10.0), np.ones(9))
    with pytest.raises(ValueError, match="increasing"):
        frequency_domain(np.zeros(10), np.ones(10))
    with pytest.raises(ValueError, match="finite"):
        frequency_domain(np.arange(10.0), np.full(10, np.nan))
    with pytest.raises(ValueError, match="unknown method"):
        frequency_domain(np.arange(10.0), np.ones(10), method="fft")  # type: ignore[arg-type]
