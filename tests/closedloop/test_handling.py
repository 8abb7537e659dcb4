"""The per-event path in-process, restarts included: a worker that stops mid-session and is
restored from its snapshots decides and evaluates exactly as one that never stopped."""

from __future__ import annotations

import msgspec
import pytest

from closedloop.handling import EventHandler
from closedloop.patients import PatientTable
from closedloop.policy import DEFAULT_POLICY
from closedloop.state_store import PatientSnapshot, encode_snapshot
from stream.events import AnyEvent, Event, LoopDecision, SessionEvaluation, StressEpisode
from tests.closedloop.test_evaluation import _outcome, _score, _window
from tests.closedloop.test_signal_quality import quality
from tests.helpers import PATIENT

S = 1_000_000_000
T0 = 1_773_151_200 * S  # 2026-03-10 14:00 UTC: outside the default quiet hours
COMMAND = "c-0123456789abcdef"
TOPIC = {"stress_score": "stress", "feature_window": "features", "intervention_outcome": "outcomes"}
TOPIC |= {"signal_quality": "quality", "stress_episode": "stress"}
Record = tuple[str, int, AnyEvent]


def _records() -> list[Record]:
    """A session from 600 s to 900 s inside 30 min of windows and scores, then a loose strap."""
    events: list[AnyEvent] = []
    for second in range(0, 1800, 10):
        rmssd = 20.0 if second <= 600 else 30.0 if second <= 900 else 40.0
        if second == 600:
            events.append(_outcome(600, "started", COMMAND))
        if second == 900:
            events.append(_outcome(900, "completed", COMMAND))
        if second == 1500:
            events.append(quality(T0 + 1500 * S, "gap"))
        if second == 1600:
            events.append(_episode(1600))
        events.append(_window(second, rmssd, 80.0 - rmssd / 10))
        events.append(_score(second, 0.9 if second <= 600 else 0.3))
    offsets: dict[str, int] = {}
    records = []
    for event in events:
        topic = TOPIC[type(event).__struct_config__.tag]  # type: ignore[index]
        offsets[topic] = offsets.get(topic, -1) + 1
        records.append((topic, offsets[topic], event))
    return records


def _episode(at_s: int) -> StressEpisode:
    return StressEpisode(
        event_id="start-00000000-0001",
        patient_id=PATIENT,
        producer_id="t",
        gateway_time_ns=T0 + at_s * S,
        episode_id="episode-0000000001",
        phase="start",
        started_at_ns=T0 + at_s * S,
        score=0.95,
        trigger_window_id="window-00000000001",
    )


class StateTopic:
    """The loopstate partition: the latest snapshot per patient, as the worker wrote it."""

    def __init__(self) -> None:
        self.latest: dict[str, bytes] = {}

    async def read(self, partition: int) -> dict[str, PatientSnapshot]:
        assert partition == 0
        decoder = msgspec.json.Decoder(PatientSnapshot)
        return {patient: decoder.decode(raw) for patient, raw in self.latest.items()}


async def _run(
    records: list[Record], state: StateTopic, *, forget_evaluators: bool = False
) -> tuple[list[Event], int]:
    table = PatientTable(DEFAULT_POLICY, read_partition=state.read)
    await table.ensure_loaded(0)
    if forget_evaluators:
        table.evaluators.clear()
    handler = EventHandler(table, producer_id="worker")
    outputs: list[Event] = []
    skipped = 0
    for topic, offset, event in records:
        handled = handler.handle(event, topic=topic, partition=0, offset=offset)
        outputs += handled.outputs
        skipped += handled.already_applied
        state.latest |= dict(table.take_snapshots())
    return outputs, skipped


def _essence(outputs: list[Event]) -> list[tuple[object, ...]]:
    result: list[tuple[object, ...]] = []
    for event in outputs:
        if isinstance(event, SessionEvaluation):
            result.append((event.event_id, event.metrics, event.effectiveness))
        elif isinstance(event, LoopDecision):
            result.append((event.event_id, event.action, event.hold_reason))
    return result


@pytest.mark.parametrize("stop_at_s", [650, 899, 1000, 1550])
async def test_a_restart_mid_stream_evaluates_and_holds_like_an_uninterrupted_run(
    stop_at_s: int,
) -> None:
    records = _records()
    reference, _ = await _run(records, StateTopic())
    evaluations = [e for e in reference if isinstance(e, SessionEvaluation)]
    assert len(evaluations) == 1 and evaluations[0].metrics["rmssd_ms_change"] == 20.0
    decisions = [e for e in reference if isinstance(e, LoopDecision)]
    assert len(decisions) == 21  # the episode start and the 20 scores inside the open episode
    assert {d.hold_reason for d in decisions} == {"poor_signal: ecg gap (5% coverage)"}

    cut = next(i for i, (_, _, e) in enumerate(records) if e.gateway_time_ns > T0 + stop_at_s * S)
    state = StateTopic()
    before, _ = await _run(records[:cut], state)
    # The restarted worker resumes from an older committed offset: 20 inputs run again.
    after, skipped = await _run(records[cut - 20 :], state)
    assert skipped == 20
    assert _essence(before + after) == _essence(reference)


async def test_without_the_evaluator_in_the_snapshot_the_session_would_be_lost() -> None:
    """The control: what the restart test guards against really happens without persistence."""
    records = _records()
    cut = next(i for i, (_, _, e) in enumerate(records) if e.gateway_time_ns > T0 + 700 * S)
    state = StateTopic()
    await _run(records[:cut], state)
    after, _ = await _run(records[cut:], state, forget_evaluators=True)
    assert not any(isinstance(e, SessionEvaluation) for e in after)


def test_snapshots_written_before_the_new_fields_still_load() -> None:
    old = {
        "format": 1,
        "patient_id": PATIENT,
        "policy": msgspec.to_builtins(DEFAULT_POLICY),
        "policy_version": 0,
        "open_episode": None,
        "acted_episode_id": None,
        "session_starts_ns": [],
        "busy_until_ns": 0,
        "asleep": False,
        "recent_aborts": [],
        "bandit_helped": {},
        "bandit_not_helped": {},
        "offsets": {"stress": 4},
    }
    saved = msgspec.json.decode(msgspec.json.encode(old), type=PatientSnapshot)
    assert saved.signal_quality == {} and saved.evaluator.sessions == []
    assert msgspec.json.decode(encode_snapshot(saved), type=PatientSnapshot) == saved
