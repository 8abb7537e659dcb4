"""A broker that goes away is a few lines, not a flood (vagus.quiet_logs)."""

from __future__ import annotations

import logging

import pytest

from vagus.quiet_logs import quiet_broker_retries


def _emit(logger: str, message: str, times: int) -> None:
    for _ in range(times):
        logging.getLogger(logger).error(message, 111)


def test_retry_lines_are_dropped_from_the_terminal(caplog: pytest.LogCaptureFixture) -> None:
    quiet_broker_retries()
    with caplog.at_level(logging.ERROR):
        _emit("aiokafka", "Unable connect to node with id %s: refused", 500)
        _emit("aiokafka.consumer.fetcher", "Failed fetch messages from %s: NodeNotReadyError", 500)
        _emit("aiokafka", "Something else about node %s", 1)
    assert [r.getMessage() for r in caplog.records] == ["Something else about node 111"]


def test_a_log_file_keeps_one_of_each_kind_with_the_count_dropped(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("vagus.quiet_logs.time.monotonic", lambda: now[0])
    quiet_broker_retries(keep_every_s=30.0)
    try:
        with caplog.at_level(logging.ERROR):
            _emit("aiokafka", "Unable connect to node with id %s: refused", 300)
            now[0] += 31.0
            _emit("aiokafka", "Unable connect to node with id %s: refused", 1)
        kept = [r.getMessage() for r in caplog.records]
        assert kept == [
            "Unable connect to node with id 111: refused",
            "Unable connect to node with id 111: refused (299 more like it dropped since the "
            "last one kept)",
        ]
    finally:
        quiet_broker_retries()


def test_a_certificate_or_password_fault_is_never_dropped_for_good(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong CA or password makes the same retry lines as an absent broker, but only the
    client's line names the cause: the terminal sees it once every 30 s, never not at all."""
    now = [1000.0]
    monkeypatch.setattr("vagus.quiet_logs.time.monotonic", lambda: now[0])
    quiet_broker_retries()
    cause = "Unable connect to %s: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    with caplog.at_level(logging.ERROR):
        _emit("aiokafka", cause, 50)
        _emit("aiokafka", "Unable connect to node with id %s: refused", 50)
        now[0] += 31.0
        _emit("aiokafka", cause, 1)
    kept = [r.getMessage() for r in caplog.records]
    assert len(kept) == 2
    assert all("CERTIFICATE_VERIFY_FAILED" in line for line in kept)
    assert "49 more like it dropped" in kept[1]
