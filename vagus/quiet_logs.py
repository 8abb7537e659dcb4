"""A broker that goes away is a few lines, never a flood.

While a broker is unreachable the Kafka client logs every retry: 12,544 "Unable connect to"
errors and 9,000 more in six minutes of one demo. vagus says it itself, once per change of
state and then with a count every 30 s (stream.spooling_producer, stream.consumer), so these
retry lines are dropped from the terminal, and in a log file kept at most once per kind every
``keep_every_s`` with the number dropped meanwhile. The filter sits on the client's own loggers,
so it holds whatever handlers are installed (faust's in the worker, the demo's log file).
"""

from __future__ import annotations

import logging
import time

#: The Kafka client's loggers that report retries.
CLIENT_LOGGERS = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.client",
    "aiokafka.cluster",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
    "kafka",
)

#: How each retry line begins (aiokafka 0.14).
RETRY_PREFIXES = (
    "Unable connect to",
    "Unable to update metadata",
    "Unable to request metadata",
    "Failed fetch messages",
    "Group Coordinator Request failed",
    "Heartbeat send request failed",
    "Error sending HeartbeatRequest",
    "Marking the coordinator dead",
    "Got error produce response",
    "Coordinator dead",
    "OffsetCommit failed",
    "Error sending OffsetCommitRequest",
    "Connection at",
)

#: What in a retry line says the fault is ours to fix (a certificate, a password), not the
#: broker's absence: such a line is never dropped for good, only repeated at most this often.
CONFIGURATION_FAULTS = ("CERTIFICATE_VERIFY_FAILED", "SSL", "certificate", "Sasl", "Authentication")
CONFIGURATION_FAULT_EVERY_S = 30.0


class BrokerRetryFilter(logging.Filter):
    """Drops the client's retry lines (``keep_every_s`` None), or keeps one per kind that often."""

    def __init__(self, keep_every_s: float | None = None) -> None:
        super().__init__()
        self.keep_every_s = keep_every_s
        self.dropped = 0
        self._last_kept: dict[str, float] = {}
        self._dropped_since: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        kind = next((p for p in RETRY_PREFIXES if message.startswith(p)), None)
        if kind is None:
            return True
        keep_every_s = self.keep_every_s
        if any(fault in record.getMessage() for fault in CONFIGURATION_FAULTS):
            kind = f"{kind} (configuration)"
            keep_every_s = keep_every_s or CONFIGURATION_FAULT_EVERY_S
        now = time.monotonic()
        last = self._last_kept.get(kind)
        if keep_every_s is None or (last is not None and now - last < keep_every_s):
            self.dropped += 1
            self._dropped_since[kind] = self._dropped_since.get(kind, 0) + 1
            return False
        self._last_kept[kind] = now
        dropped = self._dropped_since.pop(kind, 0)
        if dropped:
            record.msg = f"{message} ({dropped} more like it dropped since the last one kept)"
        return True


_installed: list[BrokerRetryFilter] = []


def quiet_broker_retries(keep_every_s: float | None = None) -> BrokerRetryFilter:
    """Install one filter on the client's loggers (replacing one installed before)."""
    for old in _installed:
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).removeFilter(old)
    _installed.clear()
    retry_filter = BrokerRetryFilter(keep_every_s)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(retry_filter)
    _installed.append(retry_filter)
    return retry_filter
