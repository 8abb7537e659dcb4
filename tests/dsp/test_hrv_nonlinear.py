"""Poincaré, DFA and sample entropy against their twins and neurokit2 on simulated NN series."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dsp.hrv.nonlinear import _sampen_counts, dfa_alpha, poincare, sample_entropy
from tests.reference.hrv import sampen_counts_reference

nk = pytest.importorskip("neurokit2")


def _nn(seed: int, n: int = 300) -> np.ndarray:
    """An AR(1) tachogram with respiratory modulation, ms."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = 0.8 * x[i - 1] + rng.standard_normal() * 15.0
    nn: np.ndarray = 850.0 + x + 20.0 * np.sin(2 * np.pi * np.arange(n) / 4.5)
    return nn


@pytest.mark.parametrize("seed", [0, 1])
def test_poincare_against_neurokit(seed: int) -> None:
    nn = _nn(seed)
    peaks = np.concatenate(([0], np.cumsum(np.round(nn)))).astype(int)  # 1000 Hz beat samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nk.hrv_nonlinear(peaks, sampling_rate=1000)
    ours = poincare(np.diff(peaks).astype(float))
    assert ours.sd1_ms == pytest.approx(float(ref["HRV_SD1"].iloc[0]), rel=1e-9)
    # PCST's SD2 uses SDNN of the whole series, neurokit2's the pairs: close, not equal
    assert ours.sd2_ms == pytest.approx(float(ref["HRV_SD2"].iloc[0]), rel=0.01)


def test_poincare_pcst_identities() -> None:
    nn = _nn(2)
    p = poincare(nn)
    sdsd, sdnn = np.diff(nn).std(ddof=1), nn.std(ddof=1)
    assert p.sd1_ms**2 + p.sd2_ms**2 == pytest.approx(2 * sdnn**2)
    assert p.sd1_ms == pytest.approx(sdsd / np.sqrt(2))
    assert np.isnan(poincare([800.0, 810.0]).sd1_ms)


@pytest.mark.parametrize("overlap", [False, True])
def test_dfa_matches_neurokit(overlap: bool) -> None:
    nn = _nn(3, 500)
    scales = tuple(range(4, 17))
    ref, _ = nk.fractal_dfa(nn, scale=np.array(scales), overlap=overlap)
    assert dfa_alpha(nn, scales, overlap=overlap) == pytest.approx(float(ref), rel=1e-9)


def test_dfa_known_exponents() -> None:
    rng = np.random.default_rng(4)
    white = rng.standard_normal(4000)
    assert dfa_alpha(white) == pytest.approx(0.5, abs=0.1)
    assert dfa_alpha(np.cumsum(white)) == pytest.approx(1.5, abs=0.15)
    assert np.isnan(dfa_alpha(white[:20]))


def test_sampen_kernel_matches_reference() -> None:
    x = np.round(_nn(5, 200))  # rounding makes |d| == r ties likely
    for r in (5.0, 10.0, 20.0):
        assert _sampen_counts(x, 2, r) == sampen_counts_reference(x, 2, r)


@pytest.mark.parametrize("r_fraction", [0.15, 0.2])
def test_sample_entropy_matches_neurokit(r_fraction: float) -> None:
    nn = _nn(6)
    tol = r_fraction * nn.std(ddof=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, _ = nk.entropy_sample(nn, dimension=2, tolerance=tol)
    assert sample_entropy(nn, 2, r_fraction) == pytest.approx(float(ref), rel=1e-9)


def test_sample_entropy_edges() -> None:
    assert np.isnan(sample_entropy([1.0, 2.0, 3.0]))
    assert sample_entropy(np.tile([1.0, 5.0], 50)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="m >= 1"):
        sample_entropy(np.arange(10.0), m=0)
