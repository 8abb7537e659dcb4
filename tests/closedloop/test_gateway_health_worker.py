"""The closed loop admits ``gateway_health`` on the (signed) quality topic and decides nothing
on it, even inside an open episode, where any score would be decided on."""

from __future__ import annotations

from closedloop.handling import EventHandler
from closedloop.patients import PatientTable
from closedloop.policy import DEFAULT_POLICY
from stream.events import DeviceBattery, GatewayHealth, LoopDecision
from stream.gate import Admitted, MessageGate
from stream.signing import GatewayKey, sign_event, verify
from tests.closedloop.test_evaluation import _score
from tests.closedloop.test_handling import T0, S, StateTopic, _episode
from tests.helpers import PATIENT

KEY = GatewayKey("0123456789ab", PATIENT, bytes(range(32)))
QUALITY = "vagus.quality"


class OneKey:
    """The enrolment registry for one patient's gateway."""

    def verify(self, data: bytes, patient_id: str) -> None:
        assert patient_id == KEY.patient_id
        verify(data, KEY)


def _health(at_s: int) -> GatewayHealth:
    return GatewayHealth(
        patient_id=PATIENT,
        producer_id="vagus-gateway",
        gateway_time_ns=T0 + at_s * S,
        devices=(DeviceBattery(device_id="d-4f2a9c1e", battery_percent=9, connected=True),),
        spool_events=40_000,
        spool_oldest_age_s=3 * 3600.0,
        broker_refusal=None,
    )


async def test_a_gateway_health_is_admitted_and_decides_nothing() -> None:
    gate = MessageGate(consumer_id="worker", verifier=OneKey(), signed_topics={QUALITY})
    verdict = gate.check(
        topic=QUALITY,
        partition=0,
        offset=0,
        key=PATIENT.encode(),
        value=sign_event(_health(1601), KEY),
    )
    assert isinstance(verdict, Admitted) and isinstance(verdict.event, GatewayHealth)

    table = PatientTable(DEFAULT_POLICY, read_partition=StateTopic().read)
    await table.ensure_loaded(0)
    handler = EventHandler(table, producer_id="worker")
    opened = handler.handle(_episode(1600), topic="vagus.stress", partition=0, offset=0)
    assert any(isinstance(e, LoopDecision) for e in opened.outputs)  # the episode is open
    handled = handler.handle(verdict.event, topic=QUALITY, partition=0, offset=1)
    assert handled.outputs == () and handled.command is None
    scored = handler.handle(_score(1602, 0.9), topic="vagus.stress", partition=0, offset=1)
    assert any(isinstance(e, LoopDecision) for e in scored.outputs)  # the control: a score is


def test_an_unsigned_one_is_dead_lettered_like_any_gateway_event() -> None:
    gate = MessageGate(consumer_id="worker", verifier=OneKey(), signed_topics={QUALITY})
    verdict = gate.check(
        topic=QUALITY, partition=0, offset=0, key=None, value=sign_event(_health(1), None)
    )
    assert not isinstance(verdict, Admitted)
