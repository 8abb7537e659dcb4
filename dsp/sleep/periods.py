"""Sleep periods from per-minute sleep/wake: Tudor-Locke et al. (2014) as ActiLife 6 runs it.

Why these rules: they are what ActiLife reports as "sleep periods", so clinicians can compare our
figures with the ActiGraph reports they know. The rules, applied to runs of equal state:

1. bedtime is the first minute of `bedtime_start_min` (default 5) consecutive sleep minutes;
   wake time is the first minute of `wake_end_min` (default 10) consecutive wake minutes;
2. a sleep run shorter than `bedtime_start_min` or a wake run shorter than `wake_end_min` does not
   change the state: it takes the state in force before it (awake at the very start);
3. each resulting block of sleep is a period if it lasts at least `min_period_min` (160) and at
   most `max_period_min` (1440) minutes and has at least `min_nonzero_epochs` minutes with
   non-zero counts; ActiLife also drops a period that runs to the end of the recording.

Inside a period, sleep onset equals bedtime (latency 0 by definition), total sleep time counts
the sleep minutes, WASO the wake minutes, and each run of wake minutes is one awakening.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SleepPeriod:
    """One Tudor-Locke sleep period; indices are epoch (minute) positions in the input."""

    in_bed_index: int  # first minute of the period; sleep onset too (latency 0)
    out_bed_index: int  # first minute after the period (the first of the waking run)
    time_in_bed_min: int
    total_sleep_min: int
    waso_min: int  # wake after sleep onset
    awakenings: int
    mean_awakening_min: float  # 0 when there is no awakening
    efficiency_pct: float  # 100 x total sleep / time in bed
    total_counts: float
    nonzero_epochs: int
    movement_index_pct: float  # 100 x minutes with counts > 0 / time in bed
    fragmentation_index_pct: float  # 100 x one-minute sleep runs / sleep runs

    @property
    def onset_index(self) -> int:
        return self.in_bed_index


def _runs(asleep: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """Start index and length of each run of equal state."""
    change = np.flatnonzero(np.diff(asleep.astype(np.int8))) + 1
    starts = np.concatenate(([0], change)).astype(np.int64)
    lengths = np.diff(np.concatenate((starts, [asleep.size]))).astype(np.int64)
    return starts, lengths


def _smoothed_state(
    asleep: npt.NDArray[np.bool_], starts: IntArray, lengths: IntArray, *, bed: int, wake: int
) -> npt.NDArray[np.bool_]:
    """Rule 2: a run too short to switch state inherits the state before it."""
    state = np.empty(starts.size, dtype=np.bool_)
    previous = False  # awake before the recording starts
    for i, (start, length) in enumerate(zip(starts, lengths, strict=True)):
        run_asleep = bool(asleep[start])
        long_enough = length >= (bed if run_asleep else wake)
        state[i] = run_asleep if long_enough else previous
        previous = bool(state[i])
    return state


def tudor_locke_periods(
    asleep: npt.ArrayLike,
    counts: npt.ArrayLike,
    *,
    bedtime_start_min: int = 5,
    wake_end_min: int = 10,
    min_period_min: int = 160,
    max_period_min: int = 1440,
    min_nonzero_epochs: int = 0,
    drop_period_at_end: bool = True,
) -> list[SleepPeriod]:
    """Sleep periods from consecutive 60 s epochs (True = asleep) and their axis-1 counts."""
    sleep = np.asarray(asleep)
    activity = np.asarray(counts, dtype=np.float64)
    if sleep.ndim != 1 or activity.shape != sleep.shape:
        raise ValueError("asleep and counts must be 1-D and the same length (one per minute)")
    if sleep.dtype != np.bool_:
        raise ValueError(f"asleep must be boolean, got {sleep.dtype}")
    if not np.all(np.isfinite(activity)) or np.any(activity < 0):
        raise ValueError("counts must be finite and non-negative")
    if min(bedtime_start_min, wake_end_min, min_period_min) < 1 or max_period_min < min_period_min:
        raise ValueError("run lengths must be >= 1 minute and max_period_min >= min_period_min")
    if sleep.size == 0:
        return []
    starts, lengths = _runs(sleep)
    state = _smoothed_state(sleep, starts, lengths, bed=bedtime_start_min, wake=wake_end_min)
    periods: list[SleepPeriod] = []
    i = 0
    while i < state.size:
        if not state[i]:
            i += 1
            continue
        j = i
        while j + 1 < state.size and state[j + 1]:
            j += 1
        period = _summarise(sleep, activity, starts[i : j + 1], lengths[i : j + 1])
        if (
            min_period_min <= period.time_in_bed_min <= max_period_min
            and period.nonzero_epochs >= min_nonzero_epochs
            and not (drop_period_at_end and period.out_bed_index == sleep.size)
        ):
            periods.append(period)
        i = j + 1
    return periods


def _summarise(
    asleep: npt.NDArray[np.bool_],
    counts: npt.NDArray[np.float64],
    starts: IntArray,
    lengths: IntArray,
) -> SleepPeriod:
    begin, end = int(starts[0]), int(starts[-1] + lengths[-1])
    run_asleep = asleep[starts]
    in_bed = end - begin
    total_sleep = int(lengths[run_asleep].sum())
    waso = in_bed - total_sleep
    awakenings = int(np.count_nonzero(~run_asleep))
    sleep_runs = int(np.count_nonzero(run_asleep))
    one_minute_runs = int(np.count_nonzero(run_asleep & (lengths == 1)))
    window = counts[begin:end]
    nonzero = int(np.count_nonzero(window > 0))
    return SleepPeriod(
        in_bed_index=begin,
        out_bed_index=end,
        time_in_bed_min=in_bed,
        total_sleep_min=total_sleep,
        waso_min=waso,
        awakenings=awakenings,
        mean_awakening_min=waso / awakenings if awakenings else 0.0,
        efficiency_pct=100.0 * total_sleep / in_bed,
        total_counts=float(window.sum()),
        nonzero_epochs=nonzero,
        movement_index_pct=100.0 * nonzero / in_bed,
        fragmentation_index_pct=100.0 * one_minute_runs / sleep_runs if sleep_runs else 0.0,
    )
