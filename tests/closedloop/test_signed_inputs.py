"""Events from the right gateway only: the real worker on the embedded broker acts on what the
patient's enrolled gateway signed, and dead-letters forged, mis-keyed and revoked records."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from closedloop.policy import DEFAULT_POLICY
from closedloop.policy_log import PolicyState
from closedloop.policy_store import candidate
from stream.codec import decode_event
from stream.events import AnyEvent, DeadLetter, InterventionCommand, LoopDecision, StressEpisode
from stream.settings import KafkaSettings
from stream.signing import sign_event
from tests.closedloop.test_worker import NOON, PATIENT, episode_start
from tests.helpers import EnrolledGateway, worker_process
from vagus.demo import create_topics

pytestmark = [pytest.mark.broker, pytest.mark.slow]

OTHER_PATIENT = "p-0000000000a1"
HOUR_NS = 3600 * 1_000_000_000


def _at(hour: int, producer_id: str = "gateway") -> StressEpisode:
    """An episode start ``hour`` hours after noon (outside quiet hours, past the cooldown)."""
    start = episode_start()
    when = NOON + hour * HOUR_NS
    return msgspec.structs.replace(
        start, producer_id=producer_id, gateway_time_ns=when, started_at_ns=when
    )


async def test_only_the_enrolled_gateway_drives_the_loop_across_a_rotation(
    kafka: KafkaSettings, tmp_path: Path, enrolled: EnrolledGateway
) -> None:
    kafka = msgspec.structs.replace(kafka, fetch_max_wait_ms=20)
    await create_topics(kafka)
    theirs = enrolled.issue(OTHER_PATIENT)  # a real key, of another patient's gateway
    genuine = _at(0)
    # Written straight to the topic, as the issue's attacker did; the unsigned one even
    # carries the genuine event's id, which must not make the genuine one look like a repeat.
    unsigned = msgspec.structs.replace(genuine, producer_id="attacker")
    mis_keyed = _at(0, producer_id="attacker")
    old_key_before_revoke, new_key = _at(1), _at(2)
    old_key_after_revoke, new_key_after_revoke = _at(3), _at(4)
    with worker_process(kafka, enrolled, tmp_path) as (worker, stats_path):
        producer = AIOKafkaProducer(**kafka.client_kwargs())
        await producer.start()
        outputs = Outputs(kafka)
        await outputs.start()
        stress = kafka.topics.name("stress")

        async def send(data: bytes) -> None:
            await producer.send_and_wait(stress, data, key=PATIENT.encode())

        try:
            await send(sign_event(unsigned, None))
            await send(sign_event(mis_keyed, theirs))
            await send(enrolled.sign(genuine))
            rotated = enrolled.issue()  # rotation while the worker runs: the old key stays valid
            await send(sign_event(old_key_before_revoke, enrolled.key))
            await send(sign_event(new_key, rotated))
            # Revoked only once the old key's records are handled: a revocation refuses every
            # record of that key the worker reads after it, whenever it was signed.
            await outputs.until(new_key.event_id, letters=2)
            enrolled.revoke(enrolled.key.key_id)
            await send(sign_event(old_key_after_revoke, enrolled.key))
            await send(sign_event(new_key_after_revoke, rotated))
            # One partition, in order: once the last input is decided, all before it were.
            await outputs.until(new_key_after_revoke.event_id, letters=3)
            await asyncio.sleep(1.0)  # the stats file is rewritten every 0.5 s
            events = await outputs.until(new_key_after_revoke.event_id, letters=3)
        finally:
            await outputs.stop()
            await producer.stop()
    decided = {e.trigger_event_id for e in events if isinstance(e, LoopDecision)}
    commanded = {e.reason.trigger_event_id for e in events if isinstance(e, InterventionCommand)}
    letters = [e for e in events if isinstance(e, DeadLetter)]
    accepted = [genuine, old_key_before_revoke, new_key, new_key_after_revoke]
    assert decided == {e.event_id for e in accepted}
    assert genuine.event_id in commanded  # the enrolled gateway's episode starts a session
    assert commanded <= {e.event_id for e in accepted}
    assert mis_keyed.event_id not in decided | commanded
    assert old_key_after_revoke.event_id not in decided | commanded
    assert [letter.error.split(":")[0] for letter in letters] == [
        "signature unsigned",
        "signature other_patient",
        "signature revoked",
    ]
    assert all(letter.patient_id == PATIENT for letter in letters)
    assert theirs.key_id in letters[1].error and enrolled.key.key_id in letters[2].error
    assert [_producer(letter) for letter in letters] == ["attacker", "attacker", "gateway"]
    stats = json.loads(stats_path.read_text())
    assert stats["signature_rejected"] == 3 and stats["dead_lettered"] == 3
    assert stats["signature_rejected_by_reason"] == {
        "unsigned": 1,
        "other_patient": 1,
        "revoked": 1,
    }
    assert worker.returncode == 0


def _producer(letter: DeadLetter) -> str:
    """The producer id the refused record claimed (its payload is kept whole)."""
    return decode_event(letter.payload).producer_id


class Outputs:
    """The worker's commands, decisions and dead letters, as they come."""

    def __init__(self, kafka: KafkaSettings) -> None:
        topics = [kafka.topics.name(t) for t in ("commands", "decisions", "deadletter")]
        self._consumer = AIOKafkaConsumer(
            *topics, auto_offset_reset="earliest", **kafka.client_kwargs()
        )
        self.events: list[AnyEvent] = []

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def until(self, trigger: str, letters: int) -> list[AnyEvent]:
        """Read until ``trigger`` is decided and ``letters`` dead letters came."""

        def done() -> bool:
            events = self.events
            decided = any(
                isinstance(e, LoopDecision) and e.trigger_event_id == trigger for e in events
            )
            return decided and sum(isinstance(e, DeadLetter) for e in events) >= letters

        async with asyncio.timeout(60):
            while True:
                for records in (await self._consumer.getmany(timeout_ms=200)).values():
                    self.events.extend(decode_event(r.value) for r in records if r.value)
                if done():
                    return self.events


async def test_each_topic_carries_only_its_own_kind(
    kafka: KafkaSettings, tmp_path: Path, enrolled: EnrolledGateway
) -> None:
    """The policy topic is not signed (clinicians' versions carry their own audit), so it must not
    carry a gateway event past the signature check; and a gateway topic must not carry a policy
    version past the clinicians' log, which the CLI and the console read."""
    kafka = msgspec.structs.replace(kafka, fetch_max_wait_ms=20)
    await create_topics(kafka)
    smuggled_episode = _at(0, producer_id="attacker")
    permissive = msgspec.structs.replace(DEFAULT_POLICY, cooldown_s=DEFAULT_POLICY.cooldown_s + 60)
    smuggled_policy = candidate(
        PolicyState(0, DEFAULT_POLICY),
        permissive,
        patient_id=PATIENT,
        actor="clinician:c-1",
        reason="looks audited",
    )
    genuine = _at(1)
    with worker_process(kafka, enrolled, tmp_path) as (worker, stats_path):
        producer = AIOKafkaProducer(**kafka.client_kwargs())
        await producer.start()
        outputs = Outputs(kafka)
        await outputs.start()
        try:
            policy_topic, stress = kafka.topics.name("policy"), kafka.topics.name("stress")
            key = PATIENT.encode()
            await producer.send_and_wait(policy_topic, sign_event(smuggled_episode, None), key=key)
            await producer.send_and_wait(stress, enrolled.sign(smuggled_policy), key=key)
            await producer.send_and_wait(stress, enrolled.sign(genuine), key=key)
            events = await outputs.until(genuine.event_id, letters=2)
            await asyncio.sleep(1.0)  # the stats file is rewritten every 0.5 s
        finally:
            await outputs.stop()
            await producer.stop()
    commanded = {e.reason.trigger_event_id for e in events if isinstance(e, InterventionCommand)}
    decisions = [e for e in events if isinstance(e, LoopDecision)]
    letters = [e for e in events if isinstance(e, DeadLetter)]
    assert smuggled_episode.event_id not in commanded
    assert {d.trigger_event_id for d in decisions} == {genuine.event_id}
    # The genuine episode was decided on the default policy: the smuggled version was not folded.
    assert [d.policy_version for d in decisions] == [0]
    assert sorted(letter.error.split(":")[0] for letter in letters) == ["misplaced", "misplaced"]
    stats = json.loads(stats_path.read_text())
    assert stats["misplaced"] == 2 and stats["dead_lettered"] == 2
    assert stats["handling_failures"] == 0
    assert worker.returncode == 0
