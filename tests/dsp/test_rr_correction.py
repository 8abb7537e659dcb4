"""Lipponen & Tarvainen RR artefact correction: kernels vs twins, injected artefacts, NeuroKit2."""

from __future__ import annotations

import warnings
from pathlib import Path

import neurokit2 as nk
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dsp.ecg import detect_r_peaks
from dsp.hrv import LABEL_NAMES, correct_rr, detect_rr_artefacts, time_resolution_ms
from dsp.hrv.rr_correction_kernels import (
    _subspace_kernel,
    classify_kernel,
    rolling_quantiles_kernel,
)
from ingest.importers.wfdb import BEAT_SYMBOLS, read_annotations, read_record
from tests.reference.hrv import classify_reference, rolling_quantiles_reference, subspace_reference

DATA = Path(__file__).parents[2] / ".." / "shared" / "data"
MITDB = DATA / "ecg" / "mitdb100"
NSR2DB = DATA / "hrv" / "nsr2db"
FloatArray = npt.NDArray[np.float64]
CODE = {name: code for code, name in enumerate(LABEL_NAMES)}


def sinus_rr(n: int, seed: int) -> FloatArray:
    """Sinus rhythm: 800 ms with respiratory (10 beats) and slow modulation, 12 ms noise."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    rr: FloatArray = (
        800
        + 35 * np.sin(2 * np.pi * k / 10)
        + 60 * np.sin(2 * np.pi * k / 150)
        + rng.normal(0, 12, n)
    )
    return rr


finite_rr = arrays(np.float64, st.integers(3, 300), elements=st.floats(300, 2000, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(x=finite_rr, half=st.integers(0, 50))
def test_rolling_quantiles_kernel_matches_reference(x: FloatArray, half: int) -> None:
    qs = np.array([0.25, 0.5, 0.75])
    np.testing.assert_allclose(
        rolling_quantiles_kernel(x, half, qs), rolling_quantiles_reference(x, half, qs), rtol=1e-12
    )


@settings(max_examples=80, deadline=None)
@given(
    steps=arrays(np.int64, st.integers(1, 400), elements=st.integers(0, 12)),
    half=st.integers(0, 60),
)
def test_rolling_quantiles_with_many_ties(steps: npt.NDArray[np.int64], half: int) -> None:
    """Intervals of a 130 Hz strap are whole sample periods: most windows hold equal values,
    which the sorted window must replace one copy at a time."""
    x: FloatArray = steps.astype(np.float64) * (1000.0 / 130.0)
    qs = np.array([0.25, 0.5, 0.75])
    np.testing.assert_allclose(
        rolling_quantiles_kernel(x, half, qs), rolling_quantiles_reference(x, half, qs), rtol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(x=finite_rr)
def test_subspace_kernel_matches_reference(x: FloatArray) -> None:
    drr = np.diff(x, prepend=x[0]) / 50.0
    for got, want in zip(_subspace_kernel(drr), subspace_reference(drr), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", range(5))
def test_classify_kernel_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rr = sinus_rr(400, seed)
    hits = rng.choice(np.arange(5, 390), 25, replace=False)
    rr[hits] *= rng.choice([0.4, 0.6, 1.4, 1.9], hits.size)  # a mix of every artefact shape
    med = np.median(rr)
    drr = np.diff(rr, prepend=med) / 40.0
    mrr = (rr - med) / 60.0
    th2 = np.full(rr.size, 60.0)
    args = (rr, drr, mrr, np.full(rr.size, med), th2, 0.13, 0.17)
    labels = classify_kernel(*args)
    np.testing.assert_array_equal(labels, classify_reference(*args))
    assert np.count_nonzero(labels) >= 20


def test_injected_artefacts_are_labelled_and_corrected() -> None:
    truth = sinus_rr(600, seed=7)
    rr = list(truth)
    rr[100], rr[101] = 0.65 * truth[100], truth[101] + 0.35 * truth[100]  # premature beat + pause
    rr[200:202] = [truth[200] + truth[201]]  # missed beat: two intervals fused
    rr[400:401] = [0.35 * truth[401], 0.65 * truth[401]]  # extra beat (rr[400] is truth[401])
    result = correct_rr(np.array(rr))
    flagged = {int(i): LABEL_NAMES[c] for i, c in enumerate(result.labels) if c}
    print("flagged:", flagged, "share:", result.corrected_share)
    # the interval after an extra beat also looks short; it is merged away with it
    assert flagged.pop(401, "short") == "short"
    assert flagged == {100: "short", 101: "ectopic", 200: "missed", 400: "extra"}
    assert result.corrected_share <= 5 / len(rr)
    assert result.counts()["missed"] == 1
    fixed = result.rr_ms
    assert fixed.size == truth.size
    np.testing.assert_allclose(fixed[401], truth[401], rtol=1e-12)  # merged back exactly
    assert fixed[200] == fixed[201] == pytest.approx((truth[200] + truth[201]) / 2)
    err = np.abs(fixed - truth)
    assert err[[100, 101, 200, 201]].max() < 100.0  # was up to 280 ms; now within normal wobble
    others = np.setdiff1d(np.arange(truth.size), [100, 101, 200, 201, 401])
    np.testing.assert_array_equal(fixed[others], truth[others])


def test_corrected_intervals_carry_their_beat_times() -> None:
    """Beat times stay on the input's clock: no drift after interpolated or merged beats."""
    truth = sinus_rr(600, seed=7)
    truth_times = 5_000.0 + np.cumsum(truth)  # the beat ending each true interval
    rr = list(truth)
    rr[100], rr[101] = 0.65 * truth[100], truth[101] + 0.35 * truth[100]
    rr[200:202] = [truth[200] + truth[201]]
    rr[400:401] = [0.35 * truth[401], 0.65 * truth[401]]
    result = correct_rr(np.array(rr), first_beat_ms=5_000.0)
    times = result.beat_times_ms
    assert times.size == result.rr_ms.size == truth.size
    # the missed beat is put halfway, the extra one dropped: every other beat is where it was
    assert times[200] == pytest.approx(truth_times[201] - (truth[200] + truth[201]) / 2)
    others = np.setdiff1d(np.arange(truth.size), [100, 200])  # 100: the premature beat itself
    np.testing.assert_allclose(times[others], truth_times[others], rtol=0, atol=1e-9)
    assert times[100] == pytest.approx(5_000.0 + sum(rr[:101]))  # detected early, kept there
    # where nothing was interpolated, intervals are the differences of their beat times
    exact = np.setdiff1d(np.arange(1, truth.size), [100, 101])
    np.testing.assert_allclose(np.diff(times)[exact - 1], result.rr_ms[exact], atol=1e-9)
    assert np.all(np.diff(times) > 0)


def test_beat_times_of_a_clean_series_are_the_cumulative_sum() -> None:
    rr = sinus_rr(300, seed=5)
    result = correct_rr(rr, first_beat_ms=-250.0)
    np.testing.assert_array_equal(result.beat_times_ms, -250.0 + np.cumsum(rr))
    assert correct_rr([]).beat_times_ms.size == 0


def test_clean_series_is_left_alone() -> None:
    rr = sinus_rr(1000, seed=3)
    result = correct_rr(rr)
    print("clean series: corrected share", result.corrected_share)
    assert result.corrected_share < 0.005  # alpha = 5.2 leaves a few tail beats flagged
    assert result.rr_ms.size == rr.size


def test_exercise_drift_is_not_an_artefact() -> None:
    """Thresholds follow the local spread: a ramp from 100 to 170 bpm is sinus rhythm."""
    rng = np.random.default_rng(11)
    k = np.arange(1200)
    rr = np.linspace(600, 350, k.size) + 6 * np.sin(2 * np.pi * k / 5) + rng.normal(0, 2, k.size)
    share = correct_rr(rr).corrected_share
    print("exercise ramp: corrected share", share)
    assert share < 0.005


def test_time_resolution_and_short_or_bad_input() -> None:
    assert time_resolution_ms(np.array([1000.0, 1000.0, 1007.8125, 992.1875])) == 7.8125
    assert time_resolution_ms(np.full(5, 800.0)) == 1.0
    assert detect_rr_artefacts([800.0, 1600.0]).tolist() == [0, 0]
    assert correct_rr([]).corrected_share == 0.0
    for bad in ([800.0, np.nan, 800.0], [800.0, -1.0, 800.0], [[800.0]]):
        with pytest.raises(ValueError, match="rr_ms"):
            correct_rr(bad)


def nk_labels(peaks: npt.NDArray[np.int64], fs: float) -> npt.NDArray[np.int8]:
    """neurokit2's Kubios labels on intervals (its artefact at peak i is our interval i - 1).

    iterative=False: with iteration its labels index the once-corrected peaks, not the input.
    Its "longshort" is our long or short.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info, _ = nk.signal_fixpeaks(peaks, sampling_rate=fs, iterative=False, method="Kubios")
    labels = np.zeros(peaks.size - 1, dtype=np.int8)
    for key, code in (("ectopic", 1), ("longshort", 2), ("missed", 4), ("extra", 5)):
        for i in info[key]:
            if i >= 1:
                labels[i - 1] = code
    return labels


def agreement(peaks: npt.NDArray[np.int64], fs: float) -> tuple[float, int, int, int]:
    ours = detect_rr_artefacts(np.diff(peaks) * (1000.0 / fs))
    ours = np.where(ours == CODE["short"], CODE["long"], ours)
    theirs = nk_labels(peaks, fs)
    both = int(np.count_nonzero((ours != 0) & (theirs != 0)))
    return (
        float(np.mean(ours == theirs)),
        int(np.count_nonzero(ours)),
        int(np.count_nonzero(theirs)),
        both,
    )


@pytest.mark.shared_data
@pytest.mark.skipif(not MITDB.is_dir(), reason="../shared/data/ecg/mitdb100 is not present")
def test_labels_agree_with_neurokit_on_mitdb100() -> None:
    record = read_record(MITDB / "100")
    annotations = read_annotations(MITDB / "100.atr")
    beats = annotations.beats()
    for name, peaks in (
        ("annotations", beats),
        ("our R-peaks", detect_r_peaks(record.lead("MLII"), record.fs)),
    ):
        share, ours, theirs, both = agreement(peaks, record.fs)
        print(f"mitdb100 {name}: label agreement {share:.4%}, flagged ours {ours} nk {theirs}")
        assert share >= 0.999
        assert both >= 0.95 * max(ours, theirs)
    symbols = [s for s in annotations.symbol if s in BEAT_SYMBOLS]
    labels = detect_rr_artefacts(np.diff(beats) * (1000.0 / record.fs))
    ectopic = [i - 1 for i, s in enumerate(symbols) if i and s != "N"]  # 33 A, 1 V
    caught = [labels[max(0, i - 1) : i + 2].any() for i in ectopic]
    print(f"mitdb100: {sum(caught)} of {len(caught)} annotated ectopic beats flagged (+-1)")
    assert np.mean(caught) >= 0.95


@pytest.mark.shared_data
@pytest.mark.skipif(not NSR2DB.is_dir(), reason="../shared/data/hrv/nsr2db is not present")
def test_labels_against_neurokit_and_annotations_on_nsr001() -> None:
    """On a 128 Hz clock the resolution floor makes us flag fewer beats than neurokit2.

    Every beat we flag, neurokit2 flags too; both catch the same annotated ectopic beats, but
    neurokit2 also flags several times more beats far from any (its QD is 0 on regular runs).
    """
    annotations = read_annotations(NSR2DB / "nsr001.ecg")
    n_first = 20000  # about 4 h: enough ectopic beats, quick enough for neurokit2
    beats = annotations.beats()[:n_first]
    symbols = [s for s in annotations.symbol if s in BEAT_SYMBOLS][:n_first]
    share, ours, theirs, both = agreement(beats, 128.0)
    print(f"nsr001: agreement {share:.4%}, flagged ours {ours} nk {theirs} both {both}")
    assert both == ours
    assert share >= 0.9
    ectopic = np.array([i - 1 for i, s in enumerate(symbols) if i and s != "N"])
    labels = detect_rr_artefacts(np.diff(beats) * (1000.0 / 128.0))
    near = np.zeros(labels.size, dtype=bool)
    for i in ectopic:
        near[max(0, i - 1) : i + 2] = True
    caught = np.mean([labels[max(0, i - 1) : i + 2].any() for i in ectopic])
    false_share = np.count_nonzero((labels != 0) & ~near) / np.count_nonzero(~near)
    print(
        f"nsr001: {ectopic.size} annotated ectopic, caught {caught:.1%}, "
        f"flags away from them {false_share:.2%} of normal beats"
    )
    assert ectopic.size >= 10
    assert caught >= 0.9
    assert false_share < 0.02
