"""A full disk under the gateway's spool: nothing crashes, nothing is lost while memory holds,
order is kept, and what a long refusal costs is counted (stream.spool_hold).

The real case runs on a real full file system: a small tmpfs mounted for the test (root only;
it skips elsewhere), filled with a file until the kernel answers ENOSPC.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream.broker import free_loopback_port
from stream.codec import decode_event
from stream.spool import Spool, SpoolSettings, SpoolWriteError
from stream.spool_hold import HeldEvents
from stream.spooling_producer import SpoolingProducer
from tests.conftest import isolated_settings
from tests.helpers import stress_score

SETTINGS = SpoolSettings(max_bytes=1 << 20, segment_bytes=2048, fsync="always")


@contextlib.contextmanager
def small_disk(where: Path, size_kib: int = 256) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """A file that takes every free block of ``disk``."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler


def _windows(spool: Spool) -> list[int]:
    return [decode_event(e.payload).gateway_time_ns for e in spool.peek(10**6)]


async def test_a_full_disk_holds_events_in_order_and_writes_them_when_space_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        producer = SpoolingProducer(
            isolated_settings(f"127.0.0.1:{free_loopback_port()}"),  # nobody listens
            producer_id=f"disk-{uuid.uuid4().hex[:6]}",
            spool=Spool(disk / "spool", SETTINGS),
            request_timeout_ms=200,
            retry_interval_s=0.05,
        )
        topic = producer.settings.topics.name("stress")
        await producer.start()
        try:
            for index in range(20):
                await producer.send_to(topic, stress_score(index))
            filler = fill(disk)
            with caplog.at_level(logging.ERROR, logger="stream.spool_hold"):
                for index in range(20, 80):
                    await producer.send_to(topic, stress_score(index))  # must not raise
            assert len(producer.held) > 0, "the disk took everything: the test proved nothing"
            assert producer.held.refusal is not None and "No space left" in producer.held.refusal
            assert producer.status()["held"]["events"] == len(producer.held)  # type: ignore[index]
            assert "holding events in memory" in caplog.text
            filler.unlink()
            await producer.send_to(topic, stress_score(80))
            assert len(producer.held) == 0 and producer.held.lost == 0
        finally:
            await producer.stop(drain_timeout_s=0.1)
        reopened = Spool(disk / "spool", SETTINGS)
        try:
            assert _windows(reopened) == list(range(81))  # every event, in the order made
        finally:
            reopened.close()


class _RefusingSpool:
    """Refuses appends while ``full``; otherwise records them."""

    def __init__(self) -> None:
        self.full = False
        self.stored: list[bytes] = []

    def append(self, *, topic: str, key: bytes, payload: bytes) -> int:
        if self.full:
            raise SpoolWriteError("cannot append to the spool: No space left on device")
        self.stored.append(payload)
        return len(self.stored)


def test_a_hold_past_its_limit_drops_the_oldest_and_counts_every_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool = _RefusingSpool()
    hold = HeldEvents(limit=10)
    spool.full = True
    with caplog.at_level(logging.ERROR, logger="stream.spool_hold"):
        for number in range(25):
            hold.store(spool, topic="t", key=b"p", payload=bytes([number]))  # type: ignore[arg-type]
    assert len(hold) == 10 and hold.lost == 15
    assert "held events lost: 1 in total" in caplog.text  # logged at the first loss, not each
    assert caplog.text.count("held events lost") == 1
    spool.full = False
    assert hold.drain(spool)  # type: ignore[arg-type]
    assert spool.stored == [bytes([n]) for n in range(15, 25)]  # the newest ten, in order


def test_repeated_refusals_at_a_segment_boundary_leave_one_consistent_spool(
    tmp_path: Path,
) -> None:
    """Each refused append abandons its segment; the next starts the same segment again
    (nothing was stored since), never listing it twice, so acknowledging cannot delete it."""
    spool = Spool(tmp_path / "spool", SpoolSettings(segment_bytes=512, fsync="never"))
    real_roll = spool._roll  # the failure is injected where the disk would fail
    refusals = [3]

    class _Refusing:
        def __init__(self, real: object) -> None:
            self.real = real

        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

    def roll(first_seq: int) -> None:
        real_roll(first_seq)
        if refusals[0] > 0:
            refusals[0] -= 1
            spool._tail = _Refusing(spool._tail)  # type: ignore[assignment]

    spool._roll = roll  # type: ignore[method-assign]
    stored: list[int] = []
    for number in range(12):
        try:
            spool.append(topic="t", key=b"p", payload=bytes([number]) * 400)
            stored.append(number)
        except SpoolWriteError:
            pass
    assert refusals == [0] and len(stored) == 9
    segments = list(spool._segments)
    assert len(segments) == len(set(segments))
    spool.ack(spool.peek(5)[-1].seq)
    spool.close()
    reopened = Spool(tmp_path / "spool", SpoolSettings(segment_bytes=512, fsync="never"))
    try:
        assert [e.payload[0] for e in reopened.peek(100)] == stored[5:]
    finally:
        reopened.close()
