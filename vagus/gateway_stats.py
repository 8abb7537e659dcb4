"""What a gateway has seen and sent: its counters and the broker's acknowledgements.

Kept apart from :mod:`vagus.gateway` so the summary, `vagus doctor` and tests read them without
the gateway's machinery.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from ingest.recording import Marker
from stream.events import Event, InterventionCommand, InterventionOutcome, PatientControl


@dataclass
class Ledger:
    """Every event this process had acknowledged by the broker, by topic (a produce sensor)."""

    by_topic: dict[str, list[str]] = field(default_factory=dict)

    def on_delivered(self, topic: str, event: Event) -> None:
        self.by_topic.setdefault(topic, []).append(event.event_id)

    def ids(self, topics: set[str] | None = None) -> set[str]:
        return {
            event_id
            for topic, ids in self.by_topic.items()
            if topics is None or topic in topics
            for event_id in ids
        }


@dataclass
class GatewayStats:
    notifications: int = 0
    decode_errors: Counter[str] = field(default_factory=Counter)
    command_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    decision_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    commands_received: list[InterventionCommand] = field(default_factory=list)
    patient_controls: list[PatientControl] = field(default_factory=list)
    outcomes: list[InterventionOutcome] = field(default_factory=list)
    decisions: int = 0
    markers: list[Marker] = field(default_factory=list)
    handled_command_ids: list[str] = field(default_factory=list)
    lockstep_timeouts: int = 0
    #: Lockstep waits not made (or cut short) because the broker was known unreachable.
    lockstep_skipped: int = 0
    bad_gap_markers: int = 0
