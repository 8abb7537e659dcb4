"""The worker's counters, written to a JSON file for the demo's loss accounting."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stream.events import Event


@dataclass
class LoopStats:
    """What the worker has done.

    Event ids are kept only when ``track_ids`` is set (the demo and tests ask for a stats
    file): a worker that runs for weeks keeps counters, not a growing list.
    """

    track_ids: bool = False
    admitted: int = 0
    admitted_ids: list[str] = field(default_factory=list)
    produced: dict[str, list[str]] = field(default_factory=dict)
    produced_count: int = 0
    already_applied: int = 0
    ready: bool = False
    duplicates: int = 0
    dead_lettered: int = 0
    commands: int = 0
    #: Outputs the producer finally failed to deliver (each stops the worker).
    failed_deliveries: int = 0
    #: Valid events whose handling raised: each was dead-lettered and the worker went on.
    handling_failures: int = 0
    #: Inputs dead-lettered (counted in ``dead_lettered`` too) because the patient's enrolled
    #: gateway had not signed them, and by which check they failed (stream.signing).
    signature_rejected: int = 0
    signature_rejected_by_reason: dict[str, int] = field(default_factory=dict)
    #: Inputs dead-lettered (counted in ``dead_lettered`` too) for being on the wrong topic: a
    #: policy version off the policy topic, or anything else on it.
    misplaced: int = 0
    #: Whether the producer runs idempotent, and why (stream.idempotence); None: not chosen yet.
    idempotent_producer: bool | None = None
    idempotence_reason: str = ""
    #: When every changed patient's state was last on the broker (Unix seconds); None: not yet.
    state_saved_at: float | None = None

    def record_admitted(self, event: Event) -> None:
        self.admitted += 1
        if self.track_ids:
            self.admitted_ids.append(event.event_id)

    def record_signature_rejected(self, reason: str) -> None:
        self.signature_rejected += 1
        by_reason = self.signature_rejected_by_reason
        by_reason[reason] = by_reason.get(reason, 0) + 1

    def record_produced(self, topic: str, event: Event) -> None:
        self.produced_count += 1
        if self.track_ids:
            self.produced.setdefault(topic, []).append(event.event_id)

    def write(self, path: Path) -> None:
        """Replace ``path`` atomically, so a reader never sees half a file."""
        temporary = path.with_suffix(".tmp")
        payload = asdict(self) | {"written_at": time.time()}
        temporary.write_text(json.dumps(payload))
        temporary.replace(path)
