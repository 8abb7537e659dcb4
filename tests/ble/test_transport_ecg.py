"""Five minutes of Polar ECG (accelerated) over the real bleak client, with two link drops.

The virtual H10 runs on a clock 30 times faster than the wall clock: it sends each 73-sample frame
when that clock reaches the frame's last sample (130 Hz of sensor time), and the transport stamps
arrivals with the same clock.
The link is dropped twice; the transport must reconnect each time, mark each gap, subscribe once
per connection, and lose no frame that the sensor sent while a central was subscribed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import numpy as np

from ingest.decoding import DeviceDecoder
from ingest.profiles.polar_pmd import PMD_DATA_UUID
from ingest.recording import DeviceRecord, Marker, NotificationRecord
from ingest.transport.gaps import GAP_PERIODS, MIN_GAP_S
from ingest.transport.manager import Transport
from ingest.transport.targets import DeviceTarget
from ingest.virtual.link import VirtualRadio
from ingest.virtual.pmd_peripheral import ECG_RATE_HZ, ECG_SAMPLES_PER_FRAME, PolarPmdPeripheral
from tests.ble.test_transport_support import (
    SECRET,
    AcceleratedClock,
    Collected,
    fast_backoff,
    virtual_backend,
    wait_for,
)

SPEED = 30.0  # 5 minutes of sensor time in 10 s of wall time
MINUTES = 5
FRAMES_NEEDED = MINUTES * 60 * ECG_RATE_HZ // ECG_SAMPLES_PER_FRAME + 1


async def test_five_minutes_of_ecg_survive_two_link_drops(radio: VirtualRadio) -> None:
    clock = AcceleratedClock(SPEED)
    got = Collected()
    started = time.perf_counter()
    async with PolarPmdPeripheral(radio, clock_ns=clock) as h10:
        transport = Transport(
            [DeviceTarget("polar-h10", address=h10.address, label="chest")],
            secret=SECRET,
            sink=got.sink,
            on_gap=got.on_gap,
            backend=virtual_backend(radio),
            clock=clock,
            backoff=fast_backoff,
            scan_timeout_s=2.0,
        )

        def frames() -> int:
            return len(got.notifications(PMD_DATA_UUID))

        async with transport:
            for drop, after in enumerate((FRAMES_NEEDED // 3, 2 * FRAMES_NEEDED // 3)):
                await wait_for(lambda: frames() >= after)  # noqa: B023 (awaited at once)
                await h10.drop_connection()
                await wait_for(lambda: h10.connection_count == drop + 2)  # noqa: B023
            await wait_for(lambda: frames() >= FRAMES_NEEDED, within_s=30)
            assert h10.subscriber_count(h10.data) == 1
            session = transport.sessions[0]
            assert session.status.connections == 3
            # control point, heart rate and PMD data: once each per connection, never again
            assert session.subscribe_calls == 3 * 3
    wall_s = time.perf_counter() - started

    notifications = got.notifications(PMD_DATA_UUID)
    received = [n.payload for n in notifications]
    sent = h10.frames_while_subscribed
    missing = _missing_runs(sent, received)
    devices = [i for i in got.items if isinstance(i, DeviceRecord)]
    assert len(devices) == 1
    device_id = devices[0].device.device_id
    link_gaps = [g for g in got.gaps if g.reason == "disconnected"]
    assert [g.stream for g in link_gaps] == ["ecg", "ecg"], "each link drop is one marked gap"
    # A loaded machine can delay arrivals enough (x SPEED) for the clock aligner to step by more
    # than MIN_GAP_S; such steps must be marked too, as sample_time_jump gaps.
    assert {g.reason for g in got.gaps} <= {"disconnected", "sample_time_jump"}
    assert {g.device_id for g in got.gaps} == {device_id}
    markers = [m for m in got.markers() if m.label == "gap"]
    assert [json.loads(m.detail) for m in markers] == [asdict(g) for g in got.gaps]

    decoder = DeviceDecoder(device_id, "polar-h10")
    blocks = [decoder.decode(n.to_notification())[0] for n in notifications]
    times = np.concatenate([b.times_ns for b in blocks])
    steps = np.diff(times)
    limit_ns = max(GAP_PERIODS * 1e9 / ECG_RATE_HZ, MIN_GAP_S * 1e9)
    holes = np.flatnonzero(steps > limit_ns)
    corrections = int(np.sum((steps > 1.5e9 / ECG_RATE_HZ) & (steps <= limit_ns)))
    assert len(holes) == len(got.gaps), "every hole in the sample times is a marked gap"
    for hole, gap in zip(holes, got.gaps, strict=True):
        assert (gap.start_ns, gap.end_ns) == (int(times[hole]), int(times[hole + 1]))
    # Frames lost in flight while a link failed sit inside a link gap, and nowhere else.
    gap_after_frame = [
        i
        for i, n in enumerate(notifications[:-1])
        if _marked_between(got, n, notifications[i + 1], "disconnected")
    ]
    assert len(gap_after_frame) == 2
    for run_after, _lost in missing:
        assert run_after in gap_after_frame, "a frame went missing where no gap is marked"
    arrivals = [i.gateway_time_ns for i in got.items if not isinstance(i, DeviceRecord)]
    assert all(np.diff(arrivals) > 0), "gateway times strictly increase"
    assert len(h10.local_time_set) == 3, "the sensor clock is set at every connection"
    assert all(moment.year >= 2026 for moment in h10.local_time_set)
    samples = len(times)
    stream_s = (times[-1] - times[0]) / 1e9
    gap_s = [(g.reason, round((g.end_ns - g.start_ns) / 1e9, 2)) for g in got.gaps]
    print(
        f"\nECG: {samples} samples in {len(received)} frames over {stream_s:.0f} s of stream "
        f"time; gaps {gap_s}; frames "
        f"lost in flight at the drops {[lost for _, lost in missing]}; clock-alignment steps "
        f"forward {corrections}, backward {int(np.sum(steps <= 0))}; wall {wall_s:.1f} s"
    )
    assert samples >= MINUTES * 60 * ECG_RATE_HZ
    assert wall_s < 60


def _missing_runs(sent: list[bytes], received: list[bytes]) -> list[tuple[int, int]]:
    """(index in ``received`` after which frames are missing, how many) for each run of frames
    the sensor sent to a subscriber that never arrived; fails if ``received`` is not an ordered
    subsequence of ``sent`` (a duplicate or reordered frame)."""
    runs: list[tuple[int, int]] = []
    cursor = 0
    for index, frame in enumerate(received):
        skipped = 0
        while cursor < len(sent) and sent[cursor] != frame:
            cursor, skipped = cursor + 1, skipped + 1
        assert cursor < len(sent), f"received frame {index} was never sent (or came twice)"
        if skipped:
            runs.append((index - 1, skipped))
        cursor += 1
    return runs


def _marked_between(
    got: Collected, first: NotificationRecord, second: NotificationRecord, reason: str
) -> bool:
    start, end = got.items.index(first), got.items.index(second)
    return any(
        isinstance(i, Marker) and i.label == "gap" and json.loads(i.detail)["reason"] == reason
        for i in got.items[start:end]
    )
