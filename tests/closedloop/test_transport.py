"""The tuned faust transport and publishing: snapshots before commits, raw bytes through the
schema, a worker that stops rather than lose an output."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.transport import consumer as faust_consumer

from closedloop.app import ClosedLoopWorker, DeliveryError
from closedloop.transport import RawSchema, _Consumer
from stream.settings import KafkaSettings


async def test_before_commit_runs_before_the_offsets_are_committed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []

    async def persist() -> None:
        order.append("snapshots")

    async def commit(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
        order.append(f"commit {offsets}")
        return True

    monkeypatch.setattr(faust_consumer.Consumer, "_commit_offsets", commit)
    consumer = object.__new__(_Consumer)
    consumer.app = SimpleNamespace(before_commit=persist)  # type: ignore[assignment]
    assert await consumer._commit_offsets({"tp": 7})
    assert order == ["snapshots", "commit {'tp': 7}"]

    consumer.app = SimpleNamespace(before_commit=None)  # type: ignore[assignment]
    assert await consumer._commit_offsets({"tp": 8})
    assert order[-1] == "commit {'tp': 8}"


def test_the_raw_schema_hands_over_the_wire_bytes() -> None:
    message = SimpleNamespace(key=b"p-0123456789ab", value=b'{"type": "x"}')
    schema = RawSchema(key_serializer="raw", value_serializer="raw")
    assert schema.loads_key(None, message) == b"p-0123456789ab"
    assert schema.loads_value(None, message) == b'{"type": "x"}'


async def test_an_undelivered_output_stops_the_worker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """At-least-once: its input must not be committed, so the worker stops and runs it again."""
    worker = ClosedLoopWorker(
        KafkaSettings(topic_prefix="t").for_embedded_broker("127.0.0.1:1"),
        enrolment_file=tmp_path / "enrolment.json",
    )
    crashes: list[BaseException] = []

    async def crash(reason: BaseException) -> None:
        crashes.append(reason)

    monkeypatch.setattr(worker.app, "crash", crash)
    delivered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    delivered.set_result(SimpleNamespace(partition=1))
    worker.outputs._on_delivered(delivered)
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(KafkaTimeoutError("request timed out"))
    worker.outputs._on_delivered(failed)
    await asyncio.sleep(0)
    assert worker.stats.failed_deliveries == 1
    assert [type(c) for c in crashes] == [KafkaTimeoutError]

    async def flushed() -> None:
        return None

    # and no commit goes ahead meanwhile: the snapshot step before it refuses
    monkeypatch.setattr(worker.app, "_producer", SimpleNamespace(flush=flushed), raising=False)
    monkeypatch.setattr(type(worker.app), "producer", property(lambda app: app._producer))
    with pytest.raises(DeliveryError, match="request timed out"):
        await worker._persist()
