"""The stress model's features: order, and definitions against references with known answers.

References are the training script's own formulas (scipy filters, numpy statistics) or closed
forms on synthetic signals: a sine of known amplitude in the RR series has a known band power,
an alternating RR series a known RMSSD, a known number of SCR bumps a known count.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal, stats

from dsp.stress import DEFAULT_MODEL
from dsp.stress.features import (
    E4_ACC_UNITS_PER_MG,
    FEATURE_NAMES,
    acc_features,
    hrv_features,
    hrv_frequency_features,
    hrv_time_features,
)
from dsp.stress.features_eda import ALIGN_S, eda_features, eda_traces, half_recovery_s


def test_the_gateway_computes_every_model_input() -> None:
    """The model looks its inputs up by name among the features computed here (the bundled
    one takes a few of them, in its own order)."""
    sidecar = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    names = [f["name"] for f in sidecar["features"]]
    assert names and set(names) <= set(FEATURE_NAMES)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == 38


def test_time_domain_on_an_alternating_series() -> None:
    rr = np.tile([800.0, 900.0], 40)  # successive differences all +/-100 ms
    got = hrv_time_features(rr, np.ones(rr.size, bool))
    assert got["hrv_mean_rr"] == pytest.approx(850.0)
    assert got["hrv_median_rr"] == pytest.approx(850.0)
    assert got["hrv_min_rr"] == 800.0 and got["hrv_max_rr"] == 900.0
    assert got["hrv_rmssd"] == pytest.approx(100.0)
    assert got["hrv_pnn50"] == pytest.approx(100.0)
    assert got["hrv_sdnn"] == pytest.approx(np.std(rr, ddof=1))
    assert got["hrv_sdsd"] == pytest.approx(np.std(np.diff(rr), ddof=1))


def test_time_domain_skips_differences_across_rejected_beats() -> None:
    rr = np.array([800.0, 810.0, 400.0, 820.0, 830.0, 840.0])
    keep = np.array([True, True, False, True, True, True])
    got = hrv_time_features(rr, keep)
    diffs = np.array([10.0, 10.0, 10.0])  # 800->810, 820->830, 830->840
    assert got["hrv_rmssd"] == pytest.approx(np.sqrt(np.mean(diffs**2)))
    assert got["hrv_min_rr"] == 800.0


def _beats_with_rr(rr_of_t: object, duration_s: float) -> np.ndarray:
    times = [0.0]
    while times[-1] < duration_s:
        times.append(times[-1] + float(rr_of_t(times[-1])) / 1000.0)  # type: ignore[operator]
    return np.asarray(times)


@pytest.mark.parametrize(("freq_hz", "band"), [(0.1, "hrv_lf_power"), (0.25, "hrv_hf_power")])
def test_band_power_of_a_known_sine(freq_hz: float, band: str) -> None:
    amplitude = 40.0  # ms: the component's variance is amplitude^2 / 2 = 800 ms^2
    beats = _beats_with_rr(lambda t: 850.0 + amplitude * np.sin(2 * np.pi * freq_hz * t), 180.0)
    got = hrv_frequency_features(beats[1:], np.diff(beats) * 1000.0)
    assert got[band] == pytest.approx(amplitude**2 / 2, rel=0.1)
    other = "hrv_hf_power" if band == "hrv_lf_power" else "hrv_lf_power"
    assert got[other] < 0.05 * got[band]
    parts = got["hrv_vlf_power"] + got["hrv_lf_power"] + got["hrv_hf_power"]
    assert parts <= got["hrv_total_power"] <= parts * 1.05
    assert got["hrv_lf_hf_ratio"] == pytest.approx(got["hrv_lf_power"] / got["hrv_hf_power"])


def test_hrv_uses_60_s_for_time_and_180_s_for_frequency() -> None:
    # Slow beats long ago, fast ones in the last minute: only the last minute's mean RR counts.
    old = np.arange(-200.5, -60.0, 1.0)  # the last old beat is at -60.5 s: its interval is out
    recent = np.arange(-59.9, 0.0001, 0.5)
    beats = np.concatenate((old, recent))
    got = hrv_features(beats - beats[-1], np.ones(beats.size - 1, bool))
    assert got["hrv_mean_rr"] == pytest.approx(500.0)
    assert np.isfinite(got["hrv_total_power"])
    with pytest.raises(ValueError, match="one entry per interval"):
        hrv_features(beats, np.ones(beats.size, bool))


def test_too_few_beats_give_undefined_not_zero() -> None:
    got = hrv_features(np.array([-2.0, -1.0, 0.0]), np.ones(2, bool))
    assert all(np.isnan(got[name]) for name in got)


def test_acc_features_follow_the_training_formulas_in_e4_units() -> None:
    rng = np.random.default_rng(1)
    acc_mg = np.array([30.0, -985.0, 160.0]) + rng.normal(0, 40, (1500, 3))
    got = acc_features(acc_mg)
    x, y, z = (acc_mg * E4_ACC_UNITS_PER_MG).T  # the training script's code, on E4 units
    mag = np.sqrt(x**2 + y**2 + z**2)
    expected = {
        "acc_x_std": np.std(x),
        "acc_y_std": np.std(y),
        "acc_z_std": np.std(z),
        "acc_magnitude_mean": np.mean(mag),
        "acc_magnitude_std": np.std(mag),
        "acc_magnitude_max": np.max(mag),
        "acc_sma": (np.sum(np.abs(x)) + np.sum(np.abs(y)) + np.sum(np.abs(z))) / len(x),
        "acc_energy": np.sum(mag**2) / len(mag),
    }
    assert got == pytest.approx(expected, rel=1e-12)
    still = acc_features(np.tile([0.0, 1000.0, 0.0], (100, 1)))  # 1 g: 64 E4 units
    assert still["acc_magnitude_mean"] == pytest.approx(64.0)
    assert still["acc_energy"] == pytest.approx(64.0**2)
    with pytest.raises(ValueError, match="shape"):
        acc_features(np.zeros((10, 2)))


def _training_traces(eda: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training script's filter_and_align_eda, minus the NeuroKit2 peak call."""
    nyq = 0.5 * fs
    b1, a1 = signal.butter(1, 1.0 / nyq, btype="low")
    smoothed, _ = signal.lfilter(b1, a1, eda, zi=signal.lfilter_zi(b1, a1) * eda[0])
    b2, a2 = signal.butter(2, 0.05 / nyq, btype="low")
    tonic, _ = signal.lfilter(b2, a2, smoothed, zi=signal.lfilter_zi(b2, a2) * smoothed[0])
    phasic = np.maximum(0, np.gradient(smoothed, 1.0 / fs))
    d = round(ALIGN_S * fs)
    return (
        np.pad(smoothed[d:], (0, d), mode="edge"),
        np.pad(tonic[d:], (0, d), mode="edge"),
        np.pad(phasic[d:], (0, d), mode="constant", constant_values=0),
    )


def _bumps(fs: float, onsets_s: list[float], duration_s: float = 240.0) -> np.ndarray:
    """2 µS plus 0.4 µS SCR-shaped bumps (fast rise, slow decay) at the given onsets."""
    t = np.arange(int(duration_s * fs)) / fs
    eda = 2.0 + 0.002 * t
    for onset in onsets_s:
        after = np.clip(t - onset, 0, None)
        eda += 0.4 * (1 - np.exp(-after / 0.75)) * np.exp(-after / 6.0) * (t >= onset)
    return eda


@pytest.mark.parametrize("fs", [4.0, 8.0])
def test_eda_traces_equal_the_training_scripts(fs: float) -> None:
    eda = _bumps(fs, [30.0, 100.0, 170.0]) + np.random.default_rng(2).normal(
        0, 0.002, int(240 * fs)
    )
    got = eda_traces(eda, fs)
    smoothed, tonic, phasic = _training_traces(eda, fs)
    np.testing.assert_allclose(got.smoothed_us, smoothed, atol=1e-10)
    np.testing.assert_allclose(got.tonic_us, tonic, atol=1e-10)
    np.testing.assert_allclose(got.phasic_us_per_s, phasic, atol=1e-10)


@pytest.mark.parametrize("fs", [4.0, 8.0])
def test_eda_features_count_known_responses(fs: float) -> None:
    # The window is 120-180 s of the aligned traces, i.e. 126.4-186.4 s of the raw signal (the
    # training script's 6.4 s shift): a response at 182 s counts, one at 123 s does not.
    onsets = [130.0, 145.0, 160.0, 182.0]
    traces = eda_traces(_bumps(fs, [20.0, 60.0, 123.0, *onsets, 210.0]), fs)
    start, stop = int(120 * fs), int(180 * fs)
    got = eda_features(traces, fs, start=start, stop=stop)
    assert got["scr_peak_count"] == len(onsets)
    tonic = traces.tonic_us[start:stop]
    assert got["scl_mean"] == pytest.approx(tonic.mean())
    assert got["scl_std"] == pytest.approx(tonic.std())
    assert got["scl_range"] == pytest.approx(np.ptp(tonic))
    assert got["scl_auc"] == pytest.approx(np.trapezoid(tonic) / fs)
    assert got["scl_slope"] == pytest.approx(np.polyfit(np.arange(tonic.size), tonic, 1)[0] * fs)
    window = traces.smoothed_us[start:stop]
    assert got["eda_skewness"] == pytest.approx(stats.skew(window))
    assert got["eda_kurtosis"] == pytest.approx(stats.kurtosis(window))
    # Amplitudes are of the derivative: a 0.4 µS bump rising with tau 0.75 s peaks near
    # 0.4 / 0.75 ~ 0.5 µS/s before smoothing; all within the training bounds [0.01, 5].
    assert 0.1 < got["scr_amplitude_mean"] < 0.6
    assert 0 < got["scr_rise_time_mean"] < 3
    assert 0 < got["scr_recovery_time_mean"] < 5


def test_a_quiet_window_has_no_responses_and_zeros_like_training() -> None:
    fs = 4.0
    traces = eda_traces(_bumps(fs, [20.0]), fs)
    got = eda_features(traces, fs, start=int(120 * fs), stop=int(180 * fs))
    assert got["scr_peak_count"] == 0
    assert got["scr_amplitude_sum"] == got["scr_rise_time_mean"] == 0.0
    assert got["scr_recovery_time_mean"] == 0.0


def test_half_recovery_and_unrecovered_response() -> None:
    phasic = np.array([0.0, 0.5, 1.0, 0.8, 0.4, 0.2, 0.0, 0.6, 1.0, 0.9])
    got = half_recovery_s(phasic, [2, 8], [0, 6])
    assert got[0] == 2.0  # 1.0 -> 0.4 <= 0.5, two samples after the peak
    assert np.isnan(got[1])  # the signal ends before it recovers


def test_bad_eda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        eda_traces(np.array([1.0, np.nan, 1.0]), 4.0)
    with pytest.raises(ValueError, match="rate"):
        eda_traces(np.ones(10), 1.0)
    traces = eda_traces(np.ones(40) * 2.0, 4.0)
    with pytest.raises(ValueError, match="outside"):
        eda_features(traces, 4.0, start=30, stop=50)
