"""A broker that stays away is one warning when it goes, then one line with a count every
``OUTAGE_REPORT_INTERVAL_S``, never a line per retry (stream.spooling_producer)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import stream.spooling_producer
from stream.broker import free_loopback_port
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from tests.conftest import isolated_settings
from tests.helpers import stream_gap


class _Wanted(logging.Handler):
    """Collects the spooling producer's lines; ``seen`` is set by the first periodic count."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if record.getMessage().startswith("broker unreachable for"):
            self.seen.set()


async def test_an_outage_is_one_warning_then_a_periodic_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream.spooling_producer, "OUTAGE_REPORT_INTERVAL_S", 0.5)
    lines = _Wanted()
    logger = logging.getLogger("stream.spooling_producer")
    logger.addHandler(lines)
    producer = SpoolingProducer(
        isolated_settings(f"127.0.0.1:{free_loopback_port()}"),  # nobody listens
        producer_id="outage-test",
        spool=Spool(tmp_path / "spool", SpoolSettings(fsync="never")),
        request_timeout_ms=300,
        retry_interval_s=0.05,
        retry_cap_s=0.1,
    )
    try:
        await producer.start()
        for second in range(3):
            await producer.send(stream_gap(second, producer_id="outage-test"))
        async with asyncio.timeout(20):
            await lines.seen.wait()
        assert producer.unreachable.is_set()
    finally:
        await producer.stop(drain_timeout_s=0.1)
        logger.removeHandler(lines)
    went = [line for line in lines.lines if line.startswith("broker unreachable at start")]
    counts = [line for line in lines.lines if line.startswith("broker unreachable for")]
    assert len(went) == 1
    assert counts and all(line.endswith("3 events spooled") for line in counts)
    # dozens of retries happened meanwhile; the lines are the state change and the counts
    assert len(lines.lines) == len(went) + len(counts) + 1  # + "stay spooled" at stop
