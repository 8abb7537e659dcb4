"""The worker's registry and gate: which key may speak for which patient, re-read on change."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import msgspec
import pytest

from stream.enrolment import (
    EnrolmentError,
    GatewayRegistry,
    issue_key,
    read_gateway_key,
    read_registry,
    revoke_key,
    write_gateway_key,
)
from stream.events import StressEpisode
from stream.gate import Admitted, MessageGate, Rejected
from stream.ids import new_event_id
from stream.signing import SignatureError, sign_event
from tests.helpers import PATIENT

OTHER_PATIENT = "p-0000000000a1"


def _episode(patient: str = PATIENT, producer: str = "gateway") -> StressEpisode:
    return StressEpisode(
        patient_id=patient,
        producer_id=producer,
        gateway_time_ns=1,
        episode_id=new_event_id(),
        phase="start",
        started_at_ns=1,
        score=0.9,
        trigger_window_id=new_event_id(),
    )


def _reason(registry: GatewayRegistry, data: bytes, patient: str = PATIENT) -> str:
    with pytest.raises(SignatureError) as refused:
        registry.verify(data, patient)
    return refused.value.reason


def test_each_refusal_names_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    mine = issue_key(path, PATIENT).gateway_key()
    theirs = issue_key(path, OTHER_PATIENT).gateway_key()
    registry = GatewayRegistry(path)
    event = _episode()
    registry.verify(sign_event(event, mine), PATIENT)  # the enrolled gateway's: accepted
    assert _reason(registry, sign_event(event, None)) == "unsigned"
    assert _reason(registry, sign_event(event, theirs)) == "other_patient"
    forged = bytearray(sign_event(event, mine))
    forged[10] ^= 1
    assert _reason(registry, bytes(forged)) == "bad_mac"
    stranger = issue_key(tmp_path / "elsewhere.json", PATIENT).gateway_key()
    assert _reason(registry, sign_event(event, stranger)) == "unknown_key"


def test_rotation_and_revocation_apply_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    old = issue_key(path, PATIENT).gateway_key()
    registry = GatewayRegistry(path)
    new = issue_key(path, PATIENT).gateway_key()  # rotation: both valid
    registry.verify(sign_event(_episode(), old), PATIENT)
    registry.verify(sign_event(_episode(), new), PATIENT)
    revoke_key(path, old.key_id)
    assert _reason(registry, sign_event(_episode(), old)) == "revoked"
    registry.verify(sign_event(_episode(), new), PATIENT)
    first = revoke_key(path, new.key_id, now_ns=5)
    assert revoke_key(path, new.key_id, now_ns=9).revoked_at_ns == first.revoked_at_ns == 5
    assert [k.revoked_at_ns is not None for k in read_registry(path)] == [True, True]


def test_no_registry_or_a_broken_one_trusts_nobody(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "registry.json"
    registry = GatewayRegistry(path)  # not written yet
    key = issue_key(tmp_path / "other.json", PATIENT).gateway_key()
    assert _reason(registry, sign_event(_episode(), key)) == "unknown_key"
    enrolled = issue_key(path, PATIENT).gateway_key()
    registry.verify(sign_event(_episode(), enrolled), PATIENT)  # appears: picked up
    path.write_text('{"keys": [{"key_id": "nonsense"}]}')
    with caplog.at_level(logging.ERROR):
        assert _reason(registry, sign_event(_episode(), enrolled)) == "unknown_key"
    assert "trusting no gateway" in caplog.text
    assert enrolled.secret.hex() not in caplog.text


def test_files_are_owner_only_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "worker" / "registry.json"
    entry = issue_key(path, PATIENT, now_ns=7)
    key_file = tmp_path / "gateway" / "gateway-key.json"
    write_gateway_key(key_file, entry.gateway_key(), issued_at_ns=7)
    for written in (path, key_file):
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    assert read_gateway_key(key_file) == entry.gateway_key()
    assert read_gateway_key(tmp_path / "missing.json") is None
    key_file.write_bytes(msgspec.json.encode({"key_id": "x"}))
    with pytest.raises(EnrolmentError, match="not a gateway key file"):
        read_gateway_key(key_file)
    with pytest.raises(EnrolmentError, match="no key"):
        revoke_key(path, "000000000000")


def test_the_gate_verifies_signed_topics_before_deduplicating(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    key = issue_key(path, PATIENT).gateway_key()
    gate = MessageGate(
        consumer_id="worker", verifier=GatewayRegistry(path), signed_topics={"t.stress"}
    )
    genuine = _episode()
    # A forger replays the genuine event's id first: refused, and the id is not used up.
    forged = msgspec.structs.replace(genuine, producer_id="attacker")
    verdicts = [
        gate.check(topic="t.stress", partition=0, offset=i, key=PATIENT.encode(), value=value)
        for i, value in enumerate([sign_event(forged, None), sign_event(genuine, key)])
    ]
    refused, admitted = verdicts
    assert isinstance(refused, Rejected) and refused.signature_failure == "unsigned"
    assert refused.dead_letter.error.startswith("signature unsigned")
    assert refused.dead_letter.patient_id == PATIENT
    assert isinstance(admitted, Admitted) and admitted.event.event_id == genuine.event_id
    assert (gate.counters.signature_rejected, gate.counters.dead_lettered) == (1, 1)
    # Topics outside the signed set (the clinician's policy log) are not asked for one.
    unsigned = sign_event(_episode(), None)
    policy = gate.check(topic="t.policy", partition=0, offset=0, key=None, value=unsigned)
    assert isinstance(policy, Admitted)
