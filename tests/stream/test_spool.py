"""The disk spool: order, no loss across reopen, bounded with a counted policy, torn tails."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.spool import Spool, SpoolError, SpoolSettings
from stream.spool_segments import read_spool_summary, scan_segment

SMALL = SpoolSettings(max_bytes=4096, max_events=1000, segment_bytes=512, fsync="never")


def _append(spool: Spool, number: int, size: int = 10) -> int:
    return spool.append(topic="t", key=b"p", payload=number.to_bytes(4, "big") + b"x" * size)


def _numbers(spool: Spool) -> list[int]:
    return [int.from_bytes(e.payload[:4], "big") for e in spool.peek(10**9)]


def test_events_come_out_in_order_and_survive_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, SMALL)
    for number in range(50):
        _append(spool, number)
    assert len(spool) == 50 and spool.stats.events == 50
    spool.ack(spool.peek(20)[-1].seq)
    spool.close()
    reopened = Spool(tmp_path, SMALL)
    assert _numbers(reopened) == list(range(20, 50))
    _append(reopened, 50)
    assert _numbers(reopened)[-1] == 50
    assert reopened.peek(1)[0].seq == 20  # sequence numbers never repeat
    reopened.close()


def test_a_second_process_cannot_share_the_directory(tmp_path: Path) -> None:
    spool = Spool(tmp_path, SMALL)
    with pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path, SMALL)
    spool.close()


def test_when_full_the_oldest_segments_are_evicted_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, SMALL)
    with caplog.at_level(logging.WARNING):
        for number in range(400):
            _append(spool, number)
    numbers = _numbers(spool)
    assert spool.stats.bytes <= SMALL.max_bytes
    assert spool.stats.evicted == 400 - len(numbers) > 0
    assert numbers == list(range(400 - len(numbers), 400))  # the newest are kept, in order
    assert "evicted" in caplog.text
    spool.close()


def test_max_events_bounds_too(tmp_path: Path) -> None:
    limits = SpoolSettings(max_bytes=1 << 20, max_events=30, segment_bytes=512, fsync="always")
    spool = Spool(tmp_path, limits)
    for number in range(100):
        _append(spool, number)
    assert len(spool) <= 30 and spool.stats.evicted == 100 - len(spool)
    assert _numbers(spool)[-1] == 99
    spool.close()


def test_torn_tail_is_ignored_counted_and_repaired(tmp_path: Path) -> None:
    spool = Spool(tmp_path, SMALL)
    for number in range(5):
        _append(spool, number)
    spool.close()
    segment = sorted(tmp_path.glob("*.seg"))[-1]
    whole = segment.read_bytes()
    segment.write_bytes(whole + whole[:7])  # a partial record, as a kill mid-write leaves
    assert read_spool_summary(tmp_path).torn_tail_bytes == 7
    reopened = Spool(tmp_path, SMALL)
    assert _numbers(reopened) == list(range(5))
    assert (reopened.stats.torn_tails, reopened.stats.torn_tail_bytes) == (1, 7)
    assert segment.read_bytes() == whole  # truncated back to the last whole record
    reopened.close()


def test_a_flipped_bit_ends_the_segment_there(tmp_path: Path) -> None:
    spool = Spool(tmp_path, SMALL)
    for number in range(3):
        _append(spool, number)
    spool.close()
    segment = sorted(tmp_path.glob("*.seg"))[0]
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0x40  # inside the last record's body: its CRC no longer matches
    segment.write_bytes(bytes(data))
    assert len(scan_segment(segment).entries) == 2
    reopened = Spool(tmp_path, SMALL)
    assert _numbers(reopened) == [0, 1] and reopened.stats.torn_tails == 1
    reopened.close()


def test_summary_reads_a_live_spool_without_the_lock(tmp_path: Path) -> None:
    spool = Spool(tmp_path, SMALL)
    for number in range(10):
        _append(spool, number)
    spool.ack(spool.peek(4)[-1].seq)
    summary = read_spool_summary(tmp_path)
    assert (summary.events, summary.bytes) == (6, spool.stats.bytes)
    assert summary.oldest_spooled_at_ns == spool.stats.oldest_spooled_at_ns
    spool.close()


def _crash(spool: Spool) -> None:
    """What a killed process leaves: open files closed by the kernel, nothing else done."""
    if spool._tail is not None:
        spool._tail.close()
    spool._lock.close()


def test_a_crash_redelivers_unsynced_acks_but_loses_nothing(tmp_path: Path) -> None:
    lazy = SpoolSettings(
        max_bytes=1 << 20, segment_bytes=512, fsync="interval", fsync_interval_s=3600
    )
    spool = Spool(tmp_path, lazy)
    for number in range(10):
        _append(spool, number)
    for _ in range(6):
        spool.ack(spool.peek(1)[0].seq)  # the first ack writes the cursor, later ones wait
    _crash(spool)
    reopened = Spool(tmp_path, lazy)
    numbers = _numbers(reopened)
    assert numbers == list(range(1, 10))  # 1-5 again (duplicates, deduped by id), 6-9 kept
    reopened.ack(reopened.peek(9)[-1].seq)
    reopened.close()  # a clean close writes the cursor
    last = Spool(tmp_path, lazy)
    assert len(last) == 0
    last.close()


class _FullDisk:
    """A tail file whose writes fail half-way, as on a full disk."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, data: bytes) -> int:
        self.real.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_failed_write_is_an_error_and_never_buries_later_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path, SMALL)
    for number in range(3):
        _append(spool, number)
    spool._tail = _FullDisk(spool._tail)  # type: ignore[assignment]
    with pytest.raises(SpoolError, match="No space left"):
        _append(spool, 99)
    for number in range(3, 6):
        _append(spool, number)  # a fresh segment
    spool.close()
    reopened = Spool(tmp_path, SMALL)
    assert _numbers(reopened) == list(range(6))
    assert reopened.stats.torn_tails == 0  # the partial record was cut off at once
    reopened.close()


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="segment_bytes"):
        SpoolSettings(max_bytes=8192, segment_bytes=100)
    with pytest.raises(ValueError, match="max_events"):
        SpoolSettings(max_events=0)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 300)),
        st.tuples(st.just("drain"), st.integers(0, 40)),
        st.tuples(st.just("reopen"), st.just(0)),
        st.tuples(st.just("tear"), st.integers(1, 30)),
    ),
    max_size=60,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_random_appends_reopens_drains_and_tears_preserve_order_and_lose_nothing(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int]]
) -> None:
    """Against a model FIFO: whatever the sequence, the spool drains exactly what was appended
    and not yet drained, in order (bounds are large enough here that nothing is evicted; a torn
    tail only ever adds garbage after whole records, as a killed writer does)."""
    directory = tmp_path_factory.mktemp("spool")
    limits = SpoolSettings(max_bytes=1 << 22, max_events=100_000, segment_bytes=700, fsync="never")
    spool = Spool(directory, limits)
    model: list[int] = []
    drained: list[int] = []
    counter = 0
    for op, value in ops:
        if op == "append":
            _append(spool, counter, size=value)
            model.append(counter)
            counter += 1
        elif op == "drain":
            head = spool.peek(value)
            if head:
                drained.extend(int.from_bytes(e.payload[:4], "big") for e in head)
                spool.ack(head[-1].seq)
                del model[: len(head)]
        elif op == "reopen":
            spool.close()
            spool = Spool(directory, limits)
        else:
            spool.close()
            segments = sorted(directory.glob("*.seg"))
            if segments:
                with segments[-1].open("ab") as tail:
                    tail.write(b"\xff" * value)
            spool = Spool(directory, limits)
        assert _numbers(spool) == model
    drained.extend(_numbers(spool))
    assert drained == list(range(counter))
    spool.close()
