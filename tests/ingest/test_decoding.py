"""Stateful decoding: clock alignment, counter unwrapping, beat times, profile dispatch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.decoding import DeviceDecoder
from ingest.device_clock import BeatTimeReconstructor, ClockAligner, CounterUnwrapper
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, encode_heart_rate_measurement
from ingest.profiles.polar_pmd import (
    PMD_DATA_UUID,
    POLAR_EPOCH_UNIX_NS,
    encode_pmd_acc_frame,
    encode_pmd_ecg_frame,
)
from ingest.profiles.sample_stream import load_builtin

MS = 1_000_000
S = 1_000_000_000
T0 = 1_773_151_200 * S


def test_clock_aligner_converges_to_the_smallest_delay() -> None:
    aligner = ClockAligner()
    rng = np.random.default_rng(1)
    true_offset = 7 * S
    offsets = []
    for i in range(200):
        device = i * 500 * MS
        arrival = device + true_offset + int(rng.uniform(5, 60) * MS)
        offsets.append(aligner.offset_ns(device, arrival))
    assert abs(offsets[-1] - true_offset) < 7 * MS
    assert all(o >= true_offset for o in offsets)  # delay only ever adds


def test_counter_unwrapper_extends_a_wrapping_millisecond_counter() -> None:
    period = (1 << 32) * MS
    unwrap = CounterUnwrapper(period)
    near_end = period - 500 * MS
    assert unwrap.unwrap(near_end) == near_end
    assert unwrap.unwrap(100 * MS) == period + 100 * MS
    assert unwrap.unwrap(600 * MS) == period + 600 * MS


@settings(max_examples=100, deadline=None)
@given(
    rr_ms=st.lists(st.integers(400, 1500), min_size=30, max_size=300),
    latencies_ms=st.lists(st.integers(5, 80), min_size=300, max_size=300),
    drift_ppm=st.integers(-100, 100),
)
def test_beat_times_converge_and_do_not_drift(
    rr_ms: list[int], latencies_ms: list[int], drift_ppm: int
) -> None:
    """Notifications once a second carry the RR of the beats in that second (a real strap's
    pattern), arrive 5-80 ms late, and the strap's clock runs up to 100 ppm off."""
    true_rr = np.asarray(rr_ms, dtype=np.int64) * MS
    beats_true = T0 + np.cumsum(true_rr)
    strap_rr = (true_rr * (1 + drift_ppm * 1e-6)).astype(np.int64)  # as the strap measures them
    reconstructor = BeatTimeReconstructor()
    rebuilt: list[int] = []
    arrivals: list[int] = []
    index = 0
    second = 1
    while index < len(rr_ms):
        boundary = T0 + second * S
        batch = []
        while index < len(rr_ms) and beats_true[index] <= boundary:
            batch.append(int(strap_rr[index]))
            index += 1
        arrival = boundary + latencies_ms[second % 300] * MS
        times = reconstructor.beat_times(batch, arrival)
        rebuilt += times
        arrivals += [arrival] * len(times)
        second += 1
    rebuilt_arr = np.asarray(rebuilt)
    assert np.all(np.diff(rebuilt_arr) > 0)
    assert np.all(rebuilt_arr <= np.asarray(arrivals))
    settled = len(rebuilt_arr) // 3  # once the aligner has seen enough arrivals
    error_ms = (rebuilt_arr[settled:] - beats_true[settled:]) / MS
    # Bounded by the arrival jitter plus the beat-to-notification spacing, whatever the drift.
    assert np.all(np.abs(error_ms) <= 1080)
    assert abs(float(np.median(error_ms))) <= 1000


def test_beat_times_are_exact_with_steady_arrivals() -> None:
    reconstructor = BeatTimeReconstructor()
    rebuilt = []
    for second in range(1, 61):  # one beat per second, each arriving 20 ms later
        rebuilt += reconstructor.beat_times([S], T0 + second * S + 20 * MS)
    assert rebuilt == [T0 + second * S + 20 * MS for second in range(1, 61)]


def test_lost_beats_reanchor_instead_of_stretching() -> None:
    reconstructor = BeatTimeReconstructor()
    for second in range(1, 11):
        reconstructor.beat_times([S], T0 + second * S)
    # 30 s out of range: the next notification's beat is placed at its arrival, not at 11 s.
    (after_gap,) = reconstructor.beat_times([S], T0 + 41 * S)
    assert after_gap == T0 + 41 * S


def test_polar_h10_decoder_times_every_sample() -> None:
    decoder = DeviceDecoder("d-01234567", "polar-h10")
    last_sample_device = 10 * S
    stamp = last_sample_device + (T0 - POLAR_EPOCH_UNIX_NS)
    payload = encode_pmd_ecg_frame(stamp, np.arange(73, dtype=np.int32))
    (block,) = decoder.decode(
        Notification("d-01234567", PMD_DATA_UUID, T0 + 10 * S + 20 * MS, payload)
    )
    assert block.stream == "ecg" and block.unit == "uV"
    assert len(block.times_ns) == 73
    assert block.times_ns[-1] == T0 + 10 * S + 20 * MS  # one frame: its delay is the offset
    steps = np.diff(block.times_ns)
    assert np.all(np.abs(steps - S / 130) <= 1)
    acc = encode_pmd_acc_frame(stamp, np.zeros((25, 3), dtype=np.int32))
    (acc_block,) = decoder.decode(
        Notification("d-01234567", PMD_DATA_UUID, T0 + 10 * S + 25 * MS, acc)
    )
    assert acc_block.stream == "acc" and acc_block.values.shape == (25, 3)


def test_heart_rate_notifications_give_hr_and_rr_blocks() -> None:
    decoder = DeviceDecoder("d-01234567", "heart-rate")
    payload = encode_heart_rate_measurement(72, rr_intervals_1024=(850, 860), sensor_contact=True)
    hr, rr = decoder.decode(Notification("d-01234567", HEART_RATE_MEASUREMENT_UUID, T0, payload))
    assert hr.stream == "hr" and hr.values.tolist() == [72.0]
    assert rr.stream == "rr" and rr.values.tolist() == pytest.approx([850 / 1.024, 860 / 1.024])
    assert rr.times_ns[-1] == T0


def test_sample_stream_decoder_uses_the_device_counter() -> None:
    profile = load_builtin("vagus-eda-v1")
    decoder = DeviceDecoder("d-89abcdef", "sample-stream:vagus-eda-v1")
    blocks = []
    for second in range(5):
        payload = profile.encode(np.full((8, 1), 2000), (5000 + second * 1000) * MS)
        arrival = T0 + second * S + 875 * MS + 30 * MS
        blocks += decoder.decode(
            Notification("d-89abcdef", profile.characteristic, arrival, payload)
        )
    times = np.concatenate([b.times_ns for b in blocks])
    assert np.all(np.diff(times) == S // 8)
    assert blocks[0].values.tolist() == [2.0] * 8


@pytest.mark.parametrize(
    ("profile", "characteristic", "payload", "message"),
    [
        ("polar-h10", PMD_DATA_UUID, b"\x00\x01", "PMD"),
        ("polar-h10", "00002a19-0000-1000-8000-00805f9b34fb", b"\x50", "no characteristic"),
        ("heart-rate", HEART_RATE_MEASUREMENT_UUID, b"", "empty payload"),
        (
            "sample-stream:vagus-eda-v1",
            "e34c526b-0d76-4dd6-89f7-4a3dc759ea2d",
            b"\x00" * 5,
            "whole samples",
        ),
    ],
)
def test_bad_notifications_are_decode_errors(
    profile: str, characteristic: str, payload: bytes, message: str
) -> None:
    decoder = DeviceDecoder("d-01234567", profile)
    with pytest.raises(DecodeError, match=message):
        decoder.decode(Notification("d-01234567", characteristic, T0, payload))


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(DecodeError, match="unknown device profile"):
        DeviceDecoder("d-01234567", "garmin-magic")


def _ecg_times(decoder: DeviceDecoder, frames: list[tuple[int, int]]) -> list[int]:
    """Times of frames given as (device time of last sample, arrival delay in ms)."""
    times: list[int] = []
    for last_ns, delay_ms in frames:
        payload = encode_pmd_ecg_frame(last_ns, np.zeros(73))
        arrival = T0 + last_ns - 10 * S + delay_ms * MS
        (block,) = decoder.decode(Notification("d-01234567", PMD_DATA_UUID, arrival, payload))
        times += block.times_ns.tolist()
    return times


PERIOD_NS = round(1e9 / 130)


def test_a_smaller_delay_is_slewed_in_so_times_never_go_back() -> None:
    decoder = DeviceDecoder("d-01234567", "polar-h10")
    # The first frame arrives 60 ms late, the rest 5 ms late: the offset falls by 55 ms, more
    # than the 7.7 ms between samples, so applied at once the times would step back.
    frames = [(10 * S + (k * 73 + 72) * PERIOD_NS, 60 if k == 0 else 5) for k in range(40)]
    times = np.array(_ecg_times(decoder, frames))
    steps = np.diff(times)
    assert steps.min() > 0
    assert decoder.clock_corrections == 0  # the slew alone kept order
    assert steps.min() >= PERIOD_NS - 2_000_000 - 1
    # Converged: the last frames sit on the better offset with nominal spacing.
    assert times[-1] == T0 + frames[-1][0] - 10 * S + 5 * MS
    assert np.abs(steps[-70:] - PERIOD_NS).max() <= 1


def test_a_device_clock_that_jumps_back_never_moves_time_back() -> None:
    decoder = DeviceDecoder("d-01234567", "polar-h10")
    times: list[int] = []
    for k in range(4):
        arrival = T0 + k * 73 * PERIOD_NS  # the gateway's clock runs on...
        device_last = 10 * S + (k * 73 + 72) * PERIOD_NS - (5 * S if k >= 2 else 0)  # reset
        payload = encode_pmd_ecg_frame(device_last, np.zeros(73))
        (block,) = decoder.decode(Notification("d-01234567", PMD_DATA_UUID, arrival, payload))
        times += block.times_ns.tolist()
    # ...the aligner still holds the pre-reset offset, so unguarded times would go 5 s back.
    assert bool(np.all(np.diff(times) > 0))
    assert decoder.clock_corrections == 2


def test_one_corrupt_timestamp_is_refused_and_leaves_the_timing_alone() -> None:
    decoder = DeviceDecoder("d-01234567", "polar-h10")
    good = [(10 * S + (k * 73 + 72) * PERIOD_NS, 5) for k in range(6)]
    reference = _ecg_times(DeviceDecoder("d-01234567", "polar-h10"), good)
    times = _ecg_times(decoder, good[:3])
    corrupt = encode_pmd_ecg_frame(good[3][0] + 3600 * S, np.zeros(73))  # an hour off
    arrival = T0 + good[3][0] - 10 * S + 5 * MS
    with pytest.raises(DecodeError, match="against the gateway clock"):
        decoder.decode(Notification("d-01234567", PMD_DATA_UUID, arrival, corrupt))
    times += _ecg_times(decoder, good[3:])
    assert times == reference  # the refused frame shifted nothing


def test_a_device_clock_set_at_connect_is_adopted_after_a_few_frames() -> None:
    decoder = DeviceDecoder("d-01234567", "polar-h10")
    refused = 0
    times: list[int] = []
    for k in range(12):
        jump = 0 if k < 3 else 7 * 365 * 86_400 * S  # 2019 fallback -> the real date
        last_ns = 10 * S + (k * 73 + 72) * PERIOD_NS + jump
        payload = encode_pmd_ecg_frame(last_ns, np.zeros(73))
        arrival = T0 + (k * 73 + 72) * PERIOD_NS + 5 * MS
        try:
            (block,) = decoder.decode(Notification("d-01234567", PMD_DATA_UUID, arrival, payload))
        except DecodeError:
            refused += 1
            continue
        times += block.times_ns.tolist()
    assert refused == 4  # the fifth frame in a row on the new clock re-anchors
    assert bool(np.all(np.diff(times) > 0))
    assert abs(times[-1] - (T0 + (11 * 73 + 72) * PERIOD_NS)) < 10 * MS
