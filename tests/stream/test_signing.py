"""Gateway signatures: every event signs and verifies; no altered, cut, re-labelled or unsigned
record passes, whoever's key is tried."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.codec import decode_event, encode_event
from stream.events import Event, RawNotification, RawNotificationBatch, StressEpisode, StressScore
from stream.ids import new_event_id
from stream.signing import (
    SIGNATURE_SUFFIX_BYTES,
    GatewayKey,
    SignatureError,
    sign,
    sign_event,
    split_signature,
    verify,
)

PATIENT = "p-0123456789ab"
KEY = GatewayKey("0123456789ab", PATIENT, bytes(range(32)))
OTHER = GatewayKey("ba9876543210", PATIENT, bytes(range(1, 33)))

labels = st.text(min_size=1, max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
times = st.integers(min_value=0, max_value=2**62)


@st.composite
def events(draw: st.DrawFn) -> Event:
    """Stress scores, episode starts and raw batches with arbitrary text and numbers."""
    producer_id, gateway_time_ns = draw(labels), draw(times)
    device_time_ns = draw(st.none() | times)
    kind = draw(st.sampled_from(["score", "episode", "raw"]))
    if kind == "score":
        return StressScore(
            patient_id=PATIENT,
            producer_id=producer_id,
            gateway_time_ns=gateway_time_ns,
            device_time_ns=device_time_ns,
            window_id=new_event_id(),
            window_end_ns=draw(times),
            score=draw(st.none() | st.floats(0, 1)),
            method=draw(labels),
            quality=draw(st.sampled_from(["ok", "calibrating", "poor_signal"])),
            components=draw(st.dictionaries(st.text(max_size=12), finite, max_size=5)),
        )
    if kind == "episode":
        return StressEpisode(
            patient_id=PATIENT,
            producer_id=producer_id,
            gateway_time_ns=gateway_time_ns,
            device_time_ns=device_time_ns,
            episode_id=new_event_id(),
            phase=draw(st.sampled_from(["start", "end"])),
            started_at_ns=draw(times),
            score=draw(st.floats(0, 1)),
            trigger_window_id=new_event_id(),
        )
    return RawNotificationBatch(
        patient_id=PATIENT,
        producer_id=producer_id,
        gateway_time_ns=gateway_time_ns,
        device_time_ns=device_time_ns,
        device_id="d-0123abcd",
        profile=draw(labels),
        characteristic=draw(labels),
        notifications=[
            RawNotification(t, None, payload)
            for t, payload in draw(st.lists(st.tuples(times, st.binary(max_size=40)), max_size=4))
        ],
    )


def _rejected(data: bytes, key: GatewayKey = KEY) -> str:
    with pytest.raises(SignatureError) as refused:
        verify(data, key)
    return refused.value.reason


@settings(max_examples=200, deadline=None)
@given(event=events())
def test_any_event_signs_verifies_and_still_decodes(event: Event) -> None:
    signed = sign_event(event, KEY)
    assert verify(signed, KEY) == encode_event(event)  # the exact bytes that were signed
    assert len(signed) == len(encode_event(event)) + SIGNATURE_SUFFIX_BYTES
    decoded = decode_event(signed)  # still one valid event for every consumer
    _, key_id, mac = split_signature(signed)
    assert decoded.sig == f"{key_id}.{mac.decode()}" and key_id == KEY.key_id
    assert msgspec.structs.replace(decoded, sig=msgspec.UNSET) == event


@settings(max_examples=300, deadline=None)
@given(event=events(), data=st.data())
def test_any_flipped_byte_is_rejected(event: Event, data: st.DataObject) -> None:
    signed = sign_event(event, KEY)
    index = data.draw(st.integers(0, len(signed) - 1))
    flip = data.draw(st.integers(1, 255))
    altered = bytearray(signed)
    altered[index] ^= flip
    _rejected(bytes(altered))


@settings(max_examples=200, deadline=None)
@given(event=events(), data=st.data())
def test_any_truncation_is_rejected(event: Event, data: st.DataObject) -> None:
    signed = sign_event(event, KEY)
    _rejected(signed[: data.draw(st.integers(0, len(signed) - 1))])


@settings(max_examples=100, deadline=None)
@given(first=events(), second=events())
def test_a_suffix_from_another_record_or_key_is_rejected(first: Event, second: Event) -> None:
    """Another record's valid signature, by the same key or another, proves nothing here."""
    body = sign_event(first, KEY)[: -SIGNATURE_SUFFIX_BYTES - 1]
    for key in (KEY, OTHER):
        suffix = sign_event(second, key)[-SIGNATURE_SUFFIX_BYTES - 1 :]
        spliced = body + suffix
        if encode_event(first) != encode_event(second):
            _rejected(spliced, key)


@settings(max_examples=100, deadline=None)
@given(event=events())
def test_the_wrong_key_and_a_missing_signature_are_rejected(event: Event) -> None:
    signed = sign_event(event, KEY)
    assert _rejected(signed, OTHER) == "unknown_key"  # another key id
    same_id = GatewayKey(KEY.key_id, PATIENT, OTHER.secret)
    assert _rejected(signed, same_id) == "bad_mac"  # the right id, the wrong secret
    assert _rejected(encode_event(event)) == "unsigned"


def test_a_signature_not_at_the_end_is_malformed_and_a_signed_event_is_signed_afresh() -> None:
    event = StressScore(
        patient_id=PATIENT,
        producer_id="gateway",
        gateway_time_ns=1,
        window_id=new_event_id(),
        window_end_ns=1,
        score=0.5,
        method="rule",
        quality="ok",
    )
    signed = sign_event(event, KEY)
    assert _rejected(signed + b" ") == "malformed"
    decoded = decode_event(signed)
    assert isinstance(decoded, StressScore)
    # Re-encoded, the old signature sits mid-record; signing again strips it, never doubles it.
    assert _rejected(encode_event(decoded)) == "malformed"
    assert sign_event(decoded, OTHER) == sign_event(event, OTHER)
    with pytest.raises(ValueError, match="JSON event"):
        sign(b"[1, 2]", KEY)


def test_split_returns_what_was_signed_and_the_secret_never_shows() -> None:
    data = b'{"type":"x"}'
    signed_bytes, key_id, mac = split_signature(sign(data, KEY))
    assert (signed_bytes, key_id, len(mac)) == (data, KEY.key_id, 64)
    assert KEY.secret.hex() not in repr(KEY) and str(KEY.secret) not in repr(KEY)


@pytest.mark.parametrize(
    ("key_id", "patient", "secret"),
    [
        ("0123456789AB", PATIENT, bytes(32)),  # upper case
        ("0123456789a", PATIENT, bytes(32)),  # 11 digits
        ('0123456789a"', PATIENT, bytes(32)),  # a quote would break the JSON
        ("0123456789ab", "alice", bytes(32)),  # not a pseudonym
        ("0123456789ab", PATIENT, bytes(15)),  # too short a secret
    ],
)
def test_a_key_must_be_well_formed(key_id: str, patient: str, secret: bytes) -> None:
    with pytest.raises(ValueError, match="gateway key"):
        GatewayKey(key_id, patient, secret)


def test_generated_keys_differ() -> None:
    keys = {GatewayKey.generate(PATIENT) for _ in range(50)}
    assert len({k.key_id for k in keys}) == 50 and len({k.secret for k in keys}) == 50
