"""Per-gateway event signatures: HMAC-SHA256 over the exact bytes an event is sent as.

The signature travels inside the record's value, not in a Kafka header: the embedded broker and
the gateway's disk spool carry values only. And it covers bytes, not a canonical JSON form, so
no re-encoding has to agree byte for byte across versions. The producer encodes the event
without a signature, computes the MAC of those bytes with its gateway key, and appends one last
JSON member just before the closing brace::

    {...,"window_end_ns":1,"sig":"<key id>.<64 hex digits>"}

That is still a valid event (the envelope's optional ``sig``), so every consumer decodes it; a
verifier cuts that exact suffix off to recover the signed bytes. Which key ids a worker accepts,
and for which patient, is :mod:`stream.enrolment`'s.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from stream.codec import encode_event
from stream.errors import StreamError
from stream.events import Event
from stream.ids import PATIENT_ID_PATTERN

__all__ = [
    "KEY_ID_PATTERN",
    "SIGNATURE_SUFFIX_BYTES",
    "GatewayKey",
    "SignatureError",
    "SignatureFailure",
    "check_mac",
    "sign",
    "sign_event",
    "split_signature",
    "verify",
]

#: Key ids: 12 lowercase hex digits (48 random bits), short enough to read out and log.
KEY_ID_PATTERN = r"[0-9a-f]{12}"
SECRET_BYTES = 32
_MAC_HEX = 64
_SUFFIX = re.compile(rb',"sig":"(' + KEY_ID_PATTERN.encode() + rb")\.([0-9a-f]{64})\"}\Z")
#: What signing adds to each event: ``,"sig":"`` + key id + ``.`` + MAC + ``"``.
SIGNATURE_SUFFIX_BYTES = len(',"sig":"') + 12 + 1 + _MAC_HEX + 1

#: Why a record failed verification; the dead letter and the worker's counters use these words.
SignatureFailure = Literal[
    "unsigned", "malformed", "unknown_key", "other_patient", "revoked", "bad_mac"
]


class SignatureError(StreamError):
    """A record whose signature does not prove it came from the patient's enrolled gateway."""

    def __init__(self, reason: SignatureFailure, detail: str) -> None:
        super().__init__(f"signature {reason}: {detail}")
        self.reason: SignatureFailure = reason


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """One gateway's signing key for one patient; the secret never appears in its repr."""

    key_id: str
    patient_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(KEY_ID_PATTERN, self.key_id):
            raise ValueError("a gateway key id is 12 lowercase hex digits")
        if not re.fullmatch(PATIENT_ID_PATTERN, self.patient_id):
            raise ValueError("a gateway key belongs to a pseudonymous patient id")
        if len(self.secret) < 16:
            raise ValueError("a gateway key's secret has at least 16 bytes")

    @classmethod
    def generate(cls, patient_id: str) -> GatewayKey:
        """A fresh key with a random id (an enrolment or a rotation)."""
        return cls(secrets.token_hex(6), patient_id, secrets.token_bytes(SECRET_BYTES))


def _mac(secret: bytes, data: bytes) -> bytes:
    return hmac.new(secret, data, hashlib.sha256).hexdigest().encode("ascii")


def sign(data: bytes, key: GatewayKey) -> bytes:
    """``data`` (one encoded event, without a signature) with ``key``'s signature appended."""
    if not data.endswith(b"}"):
        raise ValueError("only an encoded JSON event can be signed")
    return b"".join(
        (data[:-1], b',"sig":"', key.key_id.encode("ascii"), b".", _mac(key.secret, data), b'"}')
    )


def sign_event(event: Event, key: GatewayKey | None) -> bytes:
    """The event's wire bytes, signed when there is a key (a gateway not enrolled has none)."""
    if event.sig is not msgspec.UNSET:  # a re-sent event is signed afresh, never twice
        event = msgspec.structs.replace(event, sig=msgspec.UNSET)
    data = encode_event(event)
    return data if key is None else sign(data, key)


def split_signature(data: bytes) -> tuple[bytes, str, bytes]:
    """The signed bytes, the key id and the MAC of a signed record.

    Raises :class:`SignatureError` (``unsigned`` or ``malformed``) when the record does not end
    in exactly the suffix :func:`sign` writes.
    """
    match = _SUFFIX.search(data, max(0, len(data) - SIGNATURE_SUFFIX_BYTES - 1))
    if match is None:
        if b'"sig"' in data:
            raise SignatureError("malformed", "the signature is not the record's last member")
        raise SignatureError("unsigned", "the record carries no signature")
    return data[: match.start()] + b"}", match[1].decode("ascii"), match[2]


def check_mac(signed: bytes, mac: bytes, key: GatewayKey) -> None:
    """Compare ``mac`` with ``key``'s MAC of ``signed`` in constant time (``bad_mac`` if not)."""
    if not hmac.compare_digest(_mac(key.secret, signed), mac):
        raise SignatureError("bad_mac", f"the MAC does not match key {key.key_id}")


def verify(data: bytes, key: GatewayKey) -> bytes:
    """The signed bytes of ``data`` if ``key`` signed it; else raise :class:`SignatureError`."""
    signed, key_id, mac = split_signature(data)
    if key_id != key.key_id:
        raise SignatureError("unknown_key", f"signed with key {key_id}, not {key.key_id}")
    check_mac(signed, mac, key)
    return signed
