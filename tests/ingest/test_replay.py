"""Replay pacing and the replay clock: original timestamps at any speed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ingest.errors import IngestError
from ingest.notification import Notification
from ingest.recording import DeviceEntry, NotificationRecord, RecordingHeader, RecordingWriter
from ingest.replay import ReplayClock, Speed, open_recording, replay

S = 1_000_000_000
START = 1_700_000_000 * S


def _recording(path: Path, seconds: float, per_second: int = 10) -> Path:
    header = RecordingHeader(
        patient_id="p-0123456789ab",
        start_time_ns=START,
        devices=[DeviceEntry(device_id="d-01234567", profile="heart-rate")],
    )
    with RecordingWriter(path, header, fsync=False) as writer:
        for i in range(int(seconds * per_second)):
            writer.write_notification(
                Notification("d-01234567", "2a37", START + i * S // per_second, bytes([0, 60]))
            )
        writer.write_marker(START + int(seconds * S), "end-of-test")
    return path


@pytest.mark.parametrize(
    ("text", "factor"),
    [("max", None), ("realtime", 1.0), ("10x", 10.0), ("0.5", 0.5), ("60X", 60.0)],
)
def test_speed_parsing(text: str, factor: float | None) -> None:
    assert Speed.parse(text).factor == factor


@pytest.mark.parametrize("text", ["fast", "0", "-2x", "inf", "nan", ""])
def test_bad_speeds_are_refused(text: str) -> None:
    with pytest.raises(IngestError):
        Speed.parse(text)


async def _timed_replay(path: Path, speed: Speed) -> tuple[float, list[int]]:
    clock = ReplayClock(speed)
    started = time.monotonic()
    times = [
        r.gateway_time_ns
        async for r in replay(open_recording(path), clock)
        if isinstance(r, NotificationRecord)
    ]
    return time.monotonic() - started, times


async def test_paced_replay_keeps_timestamps_and_pace(tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.vrec", seconds=2.0)
    elapsed, times = await _timed_replay(path, Speed(4.0))
    assert times == [START + i * S // 10 for i in range(20)]
    assert 0.4 <= elapsed < 1.5  # 2 s of data at 4x takes about half a second


async def test_max_speed_keeps_timestamps_and_does_not_wait(tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.vrec", seconds=600.0)
    elapsed, times = await _timed_replay(path, Speed(None))
    assert times == [START + i * S // 10 for i in range(6000)]
    assert elapsed < 30  # ten minutes of data; generous for a loaded CI machine


async def test_max_speed_clock_wakes_timers_as_data_passes_them(tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.vrec", seconds=10.0)
    clock = ReplayClock(Speed(None))
    woke_at: list[int] = []

    async def timer() -> None:
        await clock.sleep_until(START + 5 * S)
        woke_at.append(clock.now_ns())

    task = asyncio.create_task(timer())
    await asyncio.sleep(0)  # the timer is waiting before the replay starts
    seen_after_wake = []
    async for record in replay(open_recording(path), clock):
        if woke_at and isinstance(record, NotificationRecord):
            seen_after_wake.append(record.gateway_time_ns)
    await task
    assert woke_at[0] >= START + 5 * S
    assert seen_after_wake[0] == START + 5 * S  # woke before the record that passed it


async def test_timers_past_the_end_fire_when_the_recording_ends(tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.vrec", seconds=1.0)
    clock = ReplayClock(Speed(None))
    async for _ in replay(open_recording(path), clock):
        pass
    async with asyncio.timeout(2):
        await clock.sleep_until(START + 3600 * S)
    assert clock.now_ns() == START + 3600 * S


async def test_paced_time_holds_while_the_host_is_blocked(tmp_path: Path) -> None:
    """A stall of the event loop (a kernel compiling) must not move recording time ahead of the
    data: at 60x a 0.5 s stall would otherwise be 30 s of recording time."""
    path = _recording(tmp_path / "r.vrec", seconds=20.0)
    clock = ReplayClock(Speed(60.0), slack_s=2.0)
    seen: list[tuple[int, int]] = []
    async for record in replay(open_recording(path), clock):
        if not isinstance(record, NotificationRecord):
            continue
        if record.gateway_time_ns == START + 5 * S:
            time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop, as a cold numba compile does
        seen.append((record.gateway_time_ns, clock.now_ns()))
    assert all(now - data <= 2 * S for data, now in seen), max(n - d for d, n in seen)
    assert clock.held_ns >= 25 * S  # the stall's 30 s were held, not skipped


async def test_paced_time_flows_over_a_silent_stretch(tmp_path: Path) -> None:
    """No records for a while (a sensor out of range) is not a stall: time flows at the pace."""
    header = RecordingHeader(
        patient_id="p-0123456789ab",
        start_time_ns=START,
        devices=[DeviceEntry(device_id="d-01234567", profile="heart-rate")],
    )
    path = tmp_path / "silent.vrec"
    with RecordingWriter(path, header, fsync=False) as writer:
        for at_s in (0, 1, 20, 21):  # nothing between 1 s and 20 s
            writer.write_notification(Notification("d-01234567", "2a37", START + at_s * S, b"\0<"))
    clock = ReplayClock(Speed(100.0), slack_s=2.0)
    started = time.monotonic()
    seen = []
    async for record in replay(open_recording(path), clock):
        if isinstance(record, NotificationRecord):
            seen.append((record.gateway_time_ns, clock.now_ns()))
    assert time.monotonic() - started >= 0.18  # the 19 silent seconds took their 0.19 s
    assert [t for t, _ in seen] == [START + s * S for s in (0, 1, 20, 21)]
    assert all(now - data <= 2 * S for data, now in seen)
    assert clock.held_ns == 0  # silence is not a stall: nothing was held
    # After the end the clock runs freely at the pace: 0.1 s of wall time is 10 s of recording.
    before = clock.now_ns()
    await asyncio.sleep(0.1)
    assert clock.now_ns() - before >= 8 * S
    assert clock.held_ns == 0
