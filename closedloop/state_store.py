"""Decision state that survives restarts and rebalances: one snapshot per patient on Kafka.

After handling an input, the worker writes the patient's whole decision state, with the offset
of that input, to the ``loopstate`` topic (keyed by patient, so it shares the partition index of
the patient's events; compacted on a real Kafka). When a worker gains a partition it reads that
state partition to its end before deciding anything, and it skips any input at or below the
offset a snapshot records. A crash between the outputs and the snapshot makes the input run again,
which emits the same outputs with the same derived event ids, and consumers drop the repeats.

"To its end" is the high watermark from fetch responses, which is right on any Kafka, unlike
the bundled broker's ListOffsets (docs/broker.md): naive changelog recovery stops short there.
"""

from __future__ import annotations

import contextlib
from collections import deque

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from closedloop.decision import ABORT_MEMORY, PatientLoopState
from closedloop.evaluation import EvaluatorSnapshot, SessionEvaluator
from closedloop.personalisation import ModalityBandit
from closedloop.signal_quality import StreamQuality
from stream.events import PolicySnapshot, StressEpisode
from stream.settings import KafkaSettings
from stream.timeouts import TIMEOUTS, bounded

STATE_SUFFIX = "loopstate"


class PatientSnapshot(msgspec.Struct, kw_only=True):
    """Everything :class:`PatientLoopState` holds, plus the inputs it already reflects."""

    format: int = 1
    patient_id: str
    policy: PolicySnapshot
    policy_version: int
    open_episode: StressEpisode | None
    acted_episode_id: str | None
    session_starts_ns: list[int]
    busy_until_ns: int
    asleep: bool
    recent_aborts: list[bool]
    bandit_helped: dict[str, int]
    bandit_not_helped: dict[str, int]
    offsets: dict[str, int]
    #: Added later with defaults, so snapshots written before them still load.
    signal_quality: dict[str, StreamQuality] = msgspec.field(default_factory=dict)
    evaluator: EvaluatorSnapshot = msgspec.field(default_factory=EvaluatorSnapshot)
    not_now_until_ns: int = 0


def snapshot(
    patient_id: str,
    state: PatientLoopState,
    offsets: dict[str, int],
    *,
    evaluator: SessionEvaluator | None = None,
) -> PatientSnapshot:
    return PatientSnapshot(
        patient_id=patient_id,
        policy=state.policy,
        policy_version=state.policy_version,
        open_episode=state.open_episode,
        acted_episode_id=state.acted_episode_id,
        session_starts_ns=list(state.session_starts_ns),
        busy_until_ns=state.busy_until_ns,
        asleep=state.asleep,
        recent_aborts=list(state.recent_aborts),
        bandit_helped=dict(state.bandit.helped),
        bandit_not_helped=dict(state.bandit.not_helped),
        offsets=dict(offsets),
        signal_quality=dict(state.signal_quality),
        evaluator=evaluator.saved() if evaluator is not None else EvaluatorSnapshot(),
        not_now_until_ns=state.not_now_until_ns,
    )


def restore(saved: PatientSnapshot) -> PatientLoopState:
    return PatientLoopState(
        policy=saved.policy,
        policy_version=saved.policy_version,
        open_episode=saved.open_episode,
        acted_episode_id=saved.acted_episode_id,
        session_starts_ns=deque(saved.session_starts_ns),
        busy_until_ns=saved.busy_until_ns,
        asleep=saved.asleep,
        recent_aborts=deque(saved.recent_aborts, maxlen=ABORT_MEMORY),
        bandit=ModalityBandit(dict(saved.bandit_helped), dict(saved.bandit_not_helped)),
        signal_quality=dict(saved.signal_quality),
        not_now_until_ns=saved.not_now_until_ns,
    )


def restore_evaluator(saved: PatientSnapshot) -> SessionEvaluator:
    return SessionEvaluator.restored(saved.evaluator)


def encode_snapshot(saved: PatientSnapshot) -> bytes:
    return msgspec.json.encode(saved)


async def read_partition(
    settings: KafkaSettings, partition: int, *, committed_only: bool = False
) -> dict[str, PatientSnapshot]:
    """The latest snapshot of every patient on one state partition; with ``committed_only``
    (exactly-once workers) only snapshots of committed transactions, up to the stable end."""
    topic = settings.topics.name(STATE_SUFFIX)
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        request_timeout_ms=TIMEOUTS.request_ms,
        **settings.client_kwargs(),
    )
    latest: dict[str, PatientSnapshot] = {}
    decoder = msgspec.json.Decoder(PatientSnapshot)

    async def to_the_end() -> dict[str, PatientSnapshot]:
        assigned = TopicPartition(topic, partition)
        consumer.assign([assigned])
        await consumer.seek_to_beginning(assigned)
        while True:
            batches = await consumer.getmany(assigned, timeout_ms=200)
            for record in batches.get(assigned, []):
                try:
                    saved = decoder.decode(record.value or b"")
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # never written by us; the topic is internal
                latest[saved.patient_id] = saved
            high = (
                consumer.last_stable_offset(assigned)
                if committed_only
                else consumer.highwater(assigned)
            )
            if high is not None and await consumer.position(assigned) >= high:
                return latest

    try:
        await bounded(consumer.start(), TIMEOUTS.connect_s, "a state reader's start")
        return await bounded(
            to_the_end(), TIMEOUTS.read_state_s, f"a read of {topic}[{partition}] to its end"
        )
    finally:
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await bounded(consumer.stop(), TIMEOUTS.stop_s, "a state reader's stop")
