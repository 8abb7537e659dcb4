"""``gateway_health`` on the wire: it round-trips, refuses what it must not carry (a MAC for a
device id, a battery over 100 %, a negative backlog), lives on the quality topic, and survives
signing as the gateway signs it."""

from __future__ import annotations

import json

import msgspec
import pytest

from stream.codec import decode_event, encode_event
from stream.errors import SchemaError
from stream.events import DeviceBattery, GatewayHealth
from stream.signing import GatewayKey, sign_event, verify
from stream.topics import TopicSet

PATIENT = "p-0123456789ab"
KEY = GatewayKey("0123456789ab", PATIENT, bytes(range(32)))


def health(**changes: object) -> GatewayHealth:
    event = GatewayHealth(
        event_id="019a2f1e-4d30-7000-8000-000000000010",
        patient_id=PATIENT,
        producer_id="vagus-gateway",
        gateway_time_ns=1_773_151_800 * 10**9,
        produced_at_ns=1_773_151_800_001_000_000,
        devices=(
            DeviceBattery(device_id="d-4f2a9c1e", battery_percent=64, connected=True),
            DeviceBattery(device_id="d-5n2r8t4y", battery_percent=None, connected=False),
        ),
        spool_events=1250,
        spool_oldest_age_s=310.5,
        broker_refusal="TopicAuthorizationFailedError",
    )
    return msgspec.structs.replace(event, **changes)


def test_it_round_trips_through_the_codec() -> None:
    event = health()
    assert decode_event(encode_event(event)) == event


def test_the_optional_fields_may_be_null() -> None:
    event = health(spool_events=0, spool_oldest_age_s=None, broker_refusal=None, devices=())
    assert decode_event(encode_event(event)) == event


def _wire(**changes: object) -> bytes:
    body = json.loads(encode_event(health()))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {"devices": [{"device_id": "C0:FF:EE:00:11:22", "battery_percent": 50, "connected": True}]},
        {"devices": [{"device_id": "Polar H10 A1B2", "battery_percent": 50, "connected": True}]},
        {"devices": [{"device_id": "d-4f2a9c1e", "battery_percent": 101, "connected": True}]},
        {"devices": [{"device_id": "d-4f2a9c1e", "battery_percent": -1, "connected": True}]},
        {"spool_events": -1},
        {"spool_oldest_age_s": -0.5},
    ],
    ids=["mac", "name", "battery-over-100", "battery-negative", "backlog", "age"],
)
def test_what_it_must_not_carry_is_refused(changes: dict[str, object]) -> None:
    assert decode_event(_wire()) == health()  # the control: the unchanged body decodes
    with pytest.raises(SchemaError):
        decode_event(_wire(**changes))


def test_it_lives_on_the_quality_topic() -> None:
    assert TopicSet("vagus").for_event(GatewayHealth) == "vagus.quality"


def test_signed_as_the_gateway_signs_it_the_worker_verifies_it() -> None:
    data = sign_event(health(), KEY)
    assert decode_event(verify(data, KEY)) == health()
    tampered = data.replace(b'"spool_events":1250', b'"spool_events":1')
    with pytest.raises(Exception, match="bad_mac"):
        verify(tampered, KEY)
