"""The gateway's own clock steps (NTP at boot on a Pi without a real-time clock, which starts
from the time saved at the last shutdown): what the ECG timing does.

A forward step costs four frames (each refused with a clear error, counted as a decode error),
then the stream follows the corrected clock with one hole the size of the step, which the
engine reports as a gap. A backward step never reaches the decoder: the transport's stamps go on
at the monotonic clock's pace, ahead of the wall clock (ingest.transport.manager.MonotonicStamp).
"""

from __future__ import annotations

import numpy as np
import pytest

from ingest.decoding import DeviceDecoder
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.polar_pmd import PMD_DATA_UUID, encode_pmd_ecg_frame
from ingest.transport.manager import MonotonicStamp

S = 1_000_000_000
MS = 1_000_000
T0 = 1_773_151_200 * S
PERIOD_NS = round(1e9 / 130)
STEP_AT_FRAME = 8


def _stream(step_ns: int, frames: int = 20) -> tuple[np.ndarray, int, DeviceDecoder]:
    """ECG frames from a steady sensor clock, stamped by a gateway clock that steps once."""
    decoder = DeviceDecoder("d-01234567", "polar-h10")
    times: list[int] = []
    reasons: list[str] = []
    for k in range(frames):
        last_sample_ns = 10 * S + (k * 73 + 72) * PERIOD_NS
        arrival = T0 + (k * 73 + 72) * PERIOD_NS + 5 * MS + (step_ns if k >= STEP_AT_FRAME else 0)
        payload = encode_pmd_ecg_frame(last_sample_ns, np.zeros(73))
        try:
            (block,) = decoder.decode(Notification("d-01234567", PMD_DATA_UUID, arrival, payload))
        except DecodeError as error:
            reasons.append(str(error))
            continue
        times += block.times_ns.tolist()
    assert all("against the gateway clock" in reason for reason in reasons)
    return np.array(times), len(reasons), decoder


@pytest.mark.parametrize("step_s", [120, 3600, 86_400 * 30])
def test_a_forward_step_costs_four_frames_then_follows_the_new_clock(step_s: int) -> None:
    times, refused, _ = _stream(step_s * S)
    assert refused == 4
    steps = np.diff(times)
    assert steps.min() > 0
    [hole] = np.flatnonzero(steps > 1.5 * PERIOD_NS)
    lost = 4 * 73 * PERIOD_NS  # the refused frames' samples
    assert steps[hole] == pytest.approx(step_s * S + lost + PERIOD_NS, abs=MS)
    last_arrival = T0 + (19 * 73 + 72) * PERIOD_NS + 5 * MS + step_s * S
    assert abs(int(times[-1]) - last_arrival) <= 5 * MS  # on the corrected clock


def test_a_step_under_a_minute_is_absorbed_without_refusing_anything() -> None:
    times, refused, _ = _stream(30 * S)
    assert refused == 0
    assert np.diff(times).min() > 0


def test_a_backward_step_keeps_the_sample_spacing_through_the_gateways_stamp() -> None:
    """Arrivals stamped as the transport stamps them (wall clock partnered by the monotonic
    clock): after the wall clock steps back an hour, the stamps go on at the monotonic pace, so
    the decoder refuses nothing and every sample keeps its 130 Hz spacing."""
    wall = iter([0])
    monotonic = iter([0])
    stamp = MonotonicStamp(lambda: next(wall), lambda: next(monotonic))
    decoder = DeviceDecoder("d-01234567", "polar-h10")
    times: list[int] = []
    for k in range(20):
        elapsed = (k * 73 + 72) * PERIOD_NS + 5 * MS
        step = -3600 * S if k >= STEP_AT_FRAME else 0
        wall = iter([T0 + elapsed + step])
        monotonic = iter([elapsed])
        arrival = stamp()
        payload = encode_pmd_ecg_frame(10 * S + (k * 73 + 72) * PERIOD_NS, np.zeros(73))
        (block,) = decoder.decode(Notification("d-01234567", PMD_DATA_UUID, arrival, payload))
        times += block.times_ns.tolist()
    assert len(times) == 20 * 73, "nothing refused"
    assert np.abs(np.diff(times) - PERIOD_NS).max() < MS
    assert stamp.lead_ns == pytest.approx(3600 * S, abs=MS)
