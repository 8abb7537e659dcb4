"""Log lines a machine can read: JSON when stderr is not a terminal (journald, files, CI).

Each line is one JSON object: time (UTC, ISO 8601), level, logger, message, and, where known,
the patient's pseudonym, the device's pseudonymous id and an event name, as separate fields so
that `journalctl -o cat | jq 'select(.device == "d-...")'` finds a device's history. The
patient is set once per process (:func:`set_log_patient`); a device and an event come with the
call (``log.warning("...", extra={"device": ..., "event": "link_lost"})``). Addresses are
redacted before a record gets here (ingest.transport.identity); names never reach a log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["JsonLines", "PatientField", "set_log_patient", "use_json"]

_patient: ContextVar[str | None] = ContextVar("vagus_log_patient", default=None)
#: Fields a call may add with ``extra=``; other extras stay out of the line.
EXTRA_FIELDS = ("device", "event", "stream", "topic")


def set_log_patient(patient_id: str | None) -> None:
    """The pseudonym every later line of this process (and its tasks) carries."""
    _patient.set(patient_id)


class PatientField(logging.Filter):
    """Puts the process's patient pseudonym on each record (text and JSON alike)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "patient"):
            record.patient = _patient.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record; an exception goes in ``exception`` as text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        patient = getattr(record, "patient", None)
        if patient:
            line["patient"] = patient
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def use_json(stream: TextIO | None = None) -> bool:
    """JSON unless the stream is a terminal; ``VAGUS_LOG_FORMAT=json|text`` decides instead."""
    chosen = os.environ.get("VAGUS_LOG_FORMAT", "").lower()
    if chosen in {"json", "text"}:
        return chosen == "json"
    target = sys.stderr if stream is None else stream
    return not (hasattr(target, "isatty") and target.isatty())
