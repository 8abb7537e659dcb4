"""Resting HR and nocturnal RMSSD against a plain loop over windows, and hand-built nights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.sleep import nocturnal_hrv, tudor_locke_periods

EPOCH_START = 1_000.0


def night(minutes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Beat end times (s) and RR (ms): ~60 bpm drifting slowly, with beat-to-beat jitter."""
    rng = np.random.default_rng(seed)
    rr: list[float] = []
    t = EPOCH_START
    times: list[float] = []
    while t < EPOCH_START + minutes * 60.0:
        base = 1000.0 + 80.0 * math.sin(2 * math.pi * (t - EPOCH_START) / 5400.0)
        interval = base + rng.normal(0.0, 30.0)
        t += interval / 1000.0
        rr.append(interval)
        times.append(t)
    return np.array(times), np.array(rr)


def reference_windows(
    times: np.ndarray, rr: np.ndarray, used: np.ndarray, asleep: np.ndarray, per_window: int
) -> list[tuple[int, float, float]]:
    """Each window of `per_window` asleep epochs, by brute force: (start, mean HR, RMSSD)."""
    epoch = np.floor((times - EPOCH_START) / 60.0).astype(int)
    out = []
    for start in range(asleep.size - per_window + 1):
        if not asleep[start : start + per_window].all():
            continue
        inside = used & (epoch >= start) & (epoch < start + per_window)
        if rr[inside].sum() < 0.8 * per_window * 60_000.0:
            continue
        diffs = [rr[i] - rr[i - 1] for i in range(1, rr.size) if inside[i] and inside[i - 1]]
        out.append((start, 60000.0 / rr[inside].mean(), float(np.sqrt(np.mean(np.square(diffs))))))
    return out


def test_windows_match_a_plain_loop() -> None:
    times, rr = night(240)
    asleep = np.ones(240, dtype=bool)
    asleep[30:45] = False  # an awakening
    asleep[200:203] = False
    keep = np.ones(rr.size, dtype=bool)
    keep[::97] = False  # some rejected beats
    result = nocturnal_hrv(times, rr, asleep, epoch_start_s=EPOCH_START, keep_mask=keep)
    epoch = np.floor((times - EPOCH_START) / 60.0).astype(int)
    used = keep & (epoch < 240) & asleep[np.minimum(epoch, 239)]
    expected = reference_windows(times, rr, used, asleep, 5)
    assert result.n_windows == len(expected) > 150
    np.testing.assert_allclose(
        result.window_start_s, [EPOCH_START + 60.0 * s for s, _, _ in expected]
    )
    np.testing.assert_allclose(result.window_hr_bpm, [hr for _, hr, _ in expected])
    np.testing.assert_allclose(result.window_rmssd_ms, [r for _, _, r in expected])
    lowest = min(expected, key=lambda w: w[1])
    assert result.resting_hr_bpm == pytest.approx(lowest[1])
    assert result.resting_hr_window_start_s == EPOCH_START + 60.0 * lowest[0]
    diffs = [rr[i] - rr[i - 1] for i in range(1, rr.size) if used[i] and used[i - 1]]
    assert result.rmssd_ms == pytest.approx(np.sqrt(np.mean(np.square(diffs))))
    assert result.ln_rmssd == pytest.approx(np.log(result.rmssd_ms))
    assert result.median_window_rmssd_ms == pytest.approx(np.median([r for _, _, r in expected]))
    assert result.n_asleep_intervals == int(used.sum())


def test_resting_hr_finds_the_slowest_sleep_stretch() -> None:
    times, rr = night(120, seed=2)
    slow = (times > EPOCH_START + 3000) & (times < EPOCH_START + 3400)
    rr = np.where(slow, 1500.0, 900.0)  # 40 bpm for about 6.7 min, else 66.7 bpm
    times = EPOCH_START + np.cumsum(rr) / 1000.0
    asleep = np.ones(120, dtype=bool)
    result = nocturnal_hrv(times, rr, asleep, epoch_start_s=EPOCH_START)
    assert result.resting_hr_bpm == pytest.approx(40.0, abs=1.0)
    assert result.rmssd_ms > 0
    # the same stretch while awake is not resting HR
    awake_there = asleep.copy()
    awake_there[40:70] = False
    result = nocturnal_hrv(times, rr, awake_there, epoch_start_s=EPOCH_START)
    assert result.resting_hr_bpm > 60.0


def test_sleep_periods_limit_the_night() -> None:
    times, rr = night(400, seed=3)
    asleep = np.zeros(400, dtype=bool)
    asleep[20:30] = True  # an evening nap too short for a period
    asleep[100:380] = True
    periods = tudor_locke_periods(asleep, np.zeros(400))
    assert [(p.in_bed_index, p.out_bed_index) for p in periods] == [(100, 380)]
    whole = nocturnal_hrv(times, rr, asleep, epoch_start_s=EPOCH_START)
    in_period = nocturnal_hrv(times, rr, asleep, epoch_start_s=EPOCH_START, periods=periods)
    assert in_period.window_start_s.min() == EPOCH_START + 100 * 60.0
    assert whole.window_start_s.min() == EPOCH_START + 20 * 60.0
    assert in_period.n_asleep_intervals < whole.n_asleep_intervals


def test_missing_beats_and_no_sleep_give_nan() -> None:
    times, rr = night(60, seed=4)
    awake = nocturnal_hrv(times, rr, np.zeros(60, dtype=bool), epoch_start_s=EPOCH_START)
    assert awake.n_windows == 0 and math.isnan(awake.resting_hr_bpm)
    assert math.isnan(awake.rmssd_ms) and math.isnan(awake.ln_rmssd)
    assert math.isnan(awake.median_window_rmssd_ms)
    sparse = np.zeros(rr.size, dtype=bool)
    sparse[::2] = True  # half the beats lost: no window reaches 80 % coverage
    lost = nocturnal_hrv(
        times, rr, np.ones(60, dtype=bool), epoch_start_s=EPOCH_START, keep_mask=sparse
    )
    assert lost.n_windows == 0 and math.isnan(lost.rmssd_ms)  # no adjacent kept pair


def test_bad_input_raises() -> None:
    times, rr = night(10)
    asleep = np.ones(10, dtype=bool)
    with pytest.raises(ValueError, match="same length"):
        nocturnal_hrv(times, rr[:-1], asleep, epoch_start_s=EPOCH_START)
    with pytest.raises(ValueError, match="increasing"):
        nocturnal_hrv(times[::-1], rr, asleep, epoch_start_s=EPOCH_START)
    with pytest.raises(ValueError, match="positive"):
        nocturnal_hrv(times, -rr, asleep, epoch_start_s=EPOCH_START)
    with pytest.raises(ValueError, match="boolean"):
        nocturnal_hrv(times, rr, np.ones(10), epoch_start_s=EPOCH_START)
    with pytest.raises(ValueError, match="window_s"):
        nocturnal_hrv(times, rr, asleep, epoch_start_s=EPOCH_START, window_s=30.0)
    long_periods = tudor_locke_periods(np.ones(300, bool), np.zeros(300), drop_period_at_end=False)
    with pytest.raises(ValueError, match="past the epochs"):
        nocturnal_hrv(times, rr, asleep, epoch_start_s=EPOCH_START, periods=long_periods)
