"""Event schemas: validation in both directions, versions, pseudonym shapes."""

from __future__ import annotations

import msgspec
import pytest

from stream.codec import SUPPORTED_VERSIONS, decode_event, encode_event
from stream.errors import SchemaError
from stream.events import EVENT_TYPES, StressScore, event_type_name
from stream.ids import new_event_id, pseudonymise_device, pseudonymise_patient


def _score(**changes: object) -> StressScore:
    fields: dict[str, object] = {
        "patient_id": "p-0123456789ab",
        "producer_id": "test",
        "gateway_time_ns": 1,
        "window_id": new_event_id(),
        "window_end_ns": 1,
        "score": 0.5,
        "method": "rule",
        "quality": "ok",
    } | changes
    return StressScore(**fields)  # type: ignore[arg-type]


def test_round_trip() -> None:
    event = _score()
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"patient_id": "john-smith"}, "patient_id"),
        ({"patient_id": "p-AA:BB:CC:DD"}, "patient_id"),
        ({"score": 1.5}, "score"),
        ({"quality": "great"}, "quality"),
    ],
)
def test_produce_refuses_invalid_events(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(SchemaError, match=fragment):
        encode_event(_score(**changes))


def test_unsupported_version_is_refused_on_both_sides() -> None:
    with pytest.raises(SchemaError, match="schema_version"):
        encode_event(_score(schema_version=2))
    data = encode_event(_score()).replace(b'"schema_version":1', b'"schema_version":9')
    with pytest.raises(SchemaError, match="unsupported schema_version 9"):
        decode_event(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"null", b"[]", b'{"type":"nope"}', b'{"type":"stress_score"}', bytes(range(256))],
)
def test_garbage_is_a_schema_error(data: bytes) -> None:
    with pytest.raises(SchemaError):
        decode_event(data)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = encode_event(_score())
    extended = data[:-1] + b',"added_later":42}'
    assert decode_event(extended) == decode_event(data)


def test_every_event_type_has_a_supported_version() -> None:
    assert set(SUPPORTED_VERSIONS) == {event_type_name(t) for t in EVENT_TYPES}


def test_pseudonyms_are_stable_keyed_and_well_formed() -> None:
    secret = b"site secret"
    patient = pseudonymise_patient("enrolment-17", secret)
    assert patient == pseudonymise_patient("enrolment-17", secret)
    assert patient != pseudonymise_patient("enrolment-17", b"other secret")
    device = pseudonymise_device("aa:bb:cc:dd:ee:ff", secret)
    assert device == pseudonymise_device("AA:BB:CC:DD:EE:FF", secret)
    encode_event(_score(patient_id=patient))
    assert msgspec.json.decode(encode_event(_score(patient_id=patient)))["patient_id"] == patient


def test_event_ids_are_unique_and_time_ordered() -> None:
    ids = [new_event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)
