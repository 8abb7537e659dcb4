"""Five minutes of Polar ECG (accelerated) over the real bleak client, with two link drops.

The virtual H10 runs on a clock 30 times faster than the wall clock: it sends each 73-sample frame
when that clock reaches the frame's last sample (130 Hz of sensor time), and the transport stamps
arrivals with the same clock.
The link is dropped twice; the transport must reconnect each time, report each link loss,
subscribe once per connection, and lose no frame that the sensor sent while a central was
subscribed. The items then go through the gateway's RecordDriver: its engine must report every
hole in the ECG's sample times, and the steps across both link losses, as gaps.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from dsp.streaming import jump_limit_ns
from ingest.decoding import DeviceDecoder, SampleBlock
from ingest.profiles.polar_pmd import PMD_DATA_UUID
from ingest.recording import DeviceRecord, Marker, NotificationRecord
from ingest.transport.targets import DeviceTarget
from ingest.virtual.link import VirtualRadio
from ingest.virtual.pmd_peripheral import ECG_RATE_HZ, ECG_SAMPLES_PER_FRAME, PolarPmdPeripheral
from stream.events import Event, StreamGap
from tests.ble.test_transport_support import (
    AcceleratedClock,
    Collected,
    wait_for,
)
from vagus.config import VagusConfig
from vagus.record_driver import RecordDriver

SPEED = 30.0  # 5 minutes of sensor time in 10 s of wall time
MINUTES = 5
FRAMES_NEEDED = MINUTES * 60 * ECG_RATE_HZ // ECG_SAMPLES_PER_FRAME + 1


async def test_five_minutes_of_ecg_survive_two_link_drops(radio: VirtualRadio) -> None:
    clock = AcceleratedClock(SPEED)
    got = Collected()
    started = time.perf_counter()
    async with PolarPmdPeripheral(radio, clock_ns=clock) as h10:
        targets = [DeviceTarget("polar-h10", address=h10.address, label="chest")]
        transport = got.transport(radio, targets, clock=clock)

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
    assert [(g.stream, g.reason) for g in got.gaps] == [("link", "disconnected")] * 2, (
        "each link drop is one reported link loss; the transport decodes nothing"
    )
    assert {g.device_id for g in got.gaps} == {device_id}
    markers = [m for m in got.markers() if m.label == "gap"]
    assert [json.loads(m.detail) for m in markers] == [asdict(g) for g in got.gaps]

    decoder = DeviceDecoder(device_id, "polar-h10")
    blocks = [decoder.decode(n.to_notification())[0] for n in notifications]
    times = np.concatenate([b.times_ns for b in blocks])
    steps = np.diff(times)
    limit_ns = jump_limit_ns(ECG_RATE_HZ)
    holes = np.flatnonzero(steps > limit_ns)
    corrections = int(np.sum((steps > 1.5e9 / ECG_RATE_HZ) & (steps <= limit_ns)))
    # Frames lost in flight while a link failed sit inside a gap the engine reports.
    across = [
        i for i, n in enumerate(notifications[:-1]) if _marked_between(got, n, notifications[i + 1])
    ]
    assert len(across) == 2
    for run_after, _lost in missing:
        assert run_after in across, "a frame went missing where no link loss is reported"
    reported = _engine_gaps(got, device_id)
    expected = {(int(times[i]), int(times[i + 1])) for i in holes}
    expected |= {_step_after(blocks, i) for i in across}
    assert set(reported) == expected, "every hole and every link loss, once each"
    assert len(reported) == len(expected)
    assert sorted(reported[_step_after(blocks, i)] for i in across) == ["disconnected"] * 2
    arrivals = [n.gateway_time_ns for n in got.notifications()]
    assert all(np.diff(arrivals) > 0), "gateway times strictly increase"
    # a link loss is stamped with the arrival that ends it, and goes just before it
    stamps = [i.gateway_time_ns for i in got.items if not isinstance(i, DeviceRecord)]
    assert all(np.diff(stamps) >= 0)
    assert len(h10.local_time_set) == 3, "the sensor clock is set at every connection"
    assert all(moment.year >= 2026 for moment in h10.local_time_set)
    samples = len(times)
    stream_s = (times[-1] - times[0]) / 1e9
    gap_s = [(r, round((e - s) / 1e9, 2)) for (s, e), r in sorted(reported.items())]
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


def _marked_between(got: Collected, first: NotificationRecord, second: NotificationRecord) -> bool:
    start, end = got.items.index(first), got.items.index(second)
    return any(isinstance(i, Marker) and i.label == "gap" for i in got.items[start:end])


def _step_after(blocks: list[SampleBlock], index: int) -> tuple[int, int]:
    return int(blocks[index].times_ns[-1]), int(blocks[index + 1].times_ns[0])


def _engine_gaps(got: Collected, device_id: str) -> dict[tuple[int, int], str]:
    """The ECG gaps the gateway's pipeline reports for these items, span -> reason."""
    with tempfile.TemporaryDirectory() as state:
        driver = RecordDriver.build(
            devices={}, config=VagusConfig(), patient_id="p-000000000001",
            producer_id="test", state_dir=Path(state),
        )  # fmt: skip
        events: list[Event] = []
        for item in got.items:
            closed = driver.handle(item)
            events += [*driver.take_notices(), *(e for c in closed for e in c.events)]
        events += [e for c in driver.finish() for e in c.events]
        events += driver.take_notices()
    gaps = [e for e in events if isinstance(e, StreamGap) and e.stream == "ecg"]
    assert {g.device_id for g in gaps} == {device_id}
    return {(g.gap_start_ns, g.gap_end_ns): g.reason for g in gaps}
