"""The consume-side gate every consumer shares: validate, verify, dead-letter, deduplicate.

Plain aiokafka consumers and the faust app both pass each record through :class:`MessageGate`, so
a broken message is handled the same way everywhere: it becomes a :class:`DeadLetter` with the
reason, the consumer keeps going, and nothing is silently dropped. A gate given a verifier also
refuses records on its signed topics that the patient's enrolled gateway did not sign
(stream.signing), before the deduplication: a forged record must not use up a real event's id.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from stream.codec import decode_event
from stream.dedupe import RecentIds
from stream.errors import SchemaError
from stream.events import AnyEvent, DeadLetter
from stream.ids import PATIENT_ID_PATTERN, UNKNOWN_PATIENT_ID
from stream.signing import SignatureError, SignatureFailure

log = logging.getLogger(__name__)

#: Payload bytes a dead letter keeps: with the base64 of JSON (4/3) and the envelope it stays far
#: below the broker's default request size (1 MiB), however large the bad record was.
MAX_DEAD_LETTER_PAYLOAD = 64 * 1024
MAX_DEAD_LETTER_KEY = 1024


@dataclass
class GateCounters:
    """What a consumer saw; the demo's loss accounting reads these."""

    received: int = 0
    admitted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    #: Dead letters (counted in ``dead_lettered`` too) for a missing or wrong signature.
    signature_rejected: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Admitted:
    event: AnyEvent


@dataclass(frozen=True, slots=True)
class Rejected:
    dead_letter: DeadLetter
    #: Set when the record was refused for its signature: which check it failed.
    signature_failure: SignatureFailure | None = None


@dataclass(frozen=True, slots=True)
class Duplicate:
    event_id: str


Verdict = Admitted | Rejected | Duplicate


class Verifier(Protocol):
    """Checks a record's signature for the patient it claims (stream.enrolment's registry)."""

    def verify(self, data: bytes, patient_id: str) -> None: ...


class MessageGate:
    """Turns raw records into admitted events, dead letters or dropped duplicates.

    With a ``verifier``, records on ``signed_topics`` must carry a valid signature.
    """

    def __init__(
        self,
        *,
        consumer_id: str,
        dedupe_capacity: int = 100_000,
        verifier: Verifier | None = None,
        signed_topics: Collection[str] = (),
    ) -> None:
        self.consumer_id = consumer_id
        self.counters = GateCounters()
        self._seen = RecentIds(dedupe_capacity)
        self._verifier = verifier
        self._signed_topics = frozenset(signed_topics) if verifier is not None else frozenset()

    def check(
        self, *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> Verdict:
        self.counters.received += 1
        try:
            if value is None:
                raise SchemaError("empty message (tombstone) on an event topic")
            event = decode_event(value)
        except SchemaError as exc:
            self.counters.dead_lettered += 1
            log.warning("dead-lettering %s[%d]@%d: %s", topic, partition, offset, str(exc)[:200])
            return Rejected(
                self.dead_letter(
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    key=key,
                    value=value,
                    error=str(exc),
                )
            )
        if self._verifier is not None and topic in self._signed_topics:
            try:
                self._verifier.verify(value, event.patient_id)
            except SignatureError as exc:
                self.counters.dead_lettered += 1
                self.counters.signature_rejected += 1
                log.warning("dead-lettering %s[%d]@%d: %s", topic, partition, offset, exc)
                letter = self.dead_letter(
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    key=key,
                    value=value,
                    error=str(exc),
                )
                return Rejected(letter, signature_failure=exc.reason)
        if not self._seen.first_time(event.event_id):
            self.counters.duplicates += 1
            return Duplicate(event.event_id)
        self.counters.admitted += 1
        type_name = type(event).__struct_config__.tag
        assert isinstance(type_name, str)
        self.counters.by_type[type_name] = self.counters.by_type.get(type_name, 0) + 1
        return Admitted(event)

    def dead_letter(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        error: str,
    ) -> DeadLetter:
        """The dead letter of one record; also for a record that decoded but failed later."""
        payload = value or b""
        return DeadLetter(
            patient_id=patient_from_key(key),
            producer_id=self.consumer_id,
            gateway_time_ns=0,
            source_topic=topic,
            partition=partition,
            offset=offset,
            key=key[:MAX_DEAD_LETTER_KEY] if key is not None else None,
            payload=payload[:MAX_DEAD_LETTER_PAYLOAD],
            error=error[:2000],
            stage="consume",
            payload_size=len(payload),
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            payload_truncated=len(payload) > MAX_DEAD_LETTER_PAYLOAD,
        )


def patient_from_key(key: bytes | None) -> str:
    """The record key when it is a well-formed pseudonym, else the unknown-patient stand-in."""
    if key is None:
        return UNKNOWN_PATIENT_ID
    candidate = key.decode("ascii", errors="replace")
    return candidate if re.fullmatch(PATIENT_ID_PATTERN, candidate) else UNKNOWN_PATIENT_ID
