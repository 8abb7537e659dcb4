"""What `--exactly-once` relies on (measured end to end by bench/eos_bench.py, docs/broker.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faust.transport.consumer import TransactionManager

from closedloop.app import ClosedLoopWorker
from stream.settings import KafkaSettings
from vagus.cli import build_parser


def _worker(tmp_path: Path, *, exactly_once: bool) -> ClosedLoopWorker:
    return ClosedLoopWorker(
        KafkaSettings(topic_prefix="t").for_embedded_broker("127.0.0.1:1"),
        enrolment_file=tmp_path / "enrolment.json",
        exactly_once=exactly_once,
    )


def test_our_transactional_ids_are_fausts() -> None:
    # closedloop.transport.transactional_id writes "{app id}-{group}-{partition}", the ids under
    # which faust commits each input partition's offsets: a change in faust must fail here.
    assert TransactionManager.transactional_id_format == "{group_id}-{tpg.group}-{tpg.partition}"


@pytest.mark.parametrize("exactly_once", [False, True])
def test_the_guarantee_and_the_commit_lock_go_together(tmp_path: Path, exactly_once: bool) -> None:
    worker = _worker(tmp_path, exactly_once=exactly_once)
    expected = "exactly_once" if exactly_once else "at_least_once"
    assert str(worker.app.conf.processing_guarantee.value) == expected
    assert isinstance(worker.app.commit_lock, asyncio.Lock) is exactly_once


def test_the_cli_flag() -> None:
    parser = build_parser()
    assert parser.parse_args(["closedloop", "--exactly-once"]).exactly_once is True
    assert parser.parse_args(["closedloop"]).exactly_once is False
