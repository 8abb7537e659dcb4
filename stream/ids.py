"""Identifiers that appear in events: time-ordered event ids and pseudonym formats.

Pseudonyms have a fixed, name-proof shape so that a name or a MAC address cannot be typed into
an event by mistake: ``p-`` or ``d-`` followed by lowercase Crockford base32.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import time
import uuid

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"

PATIENT_ID_PATTERN = r"^p-[0-9a-hjkmnp-tv-z]{12}$"
DEVICE_ID_PATTERN = r"^d-[0-9a-hjkmnp-tv-z]{8}$"
#: Stand-in patient id for dead letters whose key could not be read.
UNKNOWN_PATIENT_ID = "p-000000000000"


_ID_BITS = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ID_BITS.seed(os.urandom(32)))


def new_event_id() -> str:
    """A UUIDv7-layout id: millisecond time prefix (sortable, debuggable) plus 74 random bits.

    The random bits come from a private generator seeded from the OS (and reseeded in forked
    children): ids need uniqueness, not secrecy, and a system call per event costs more than
    the rest of the id on the gateway's hot path. Private, so code that seeds the global
    ``random`` (tests do) cannot make two processes repeat each other's ids.
    """
    unix_ms = time.time_ns() // 1_000_000
    rand = _ID_BITS.getrandbits(74)
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= (rand >> 62) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return _hyphenated(value)


def _hyphenated(value: int) -> str:
    """The canonical 8-4-4-4-12 form of a 128-bit id, as ``str(uuid.UUID(int=value))`` writes it."""
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_DERIVED_NAMESPACE = uuid.UUID("5b0c0f3e-8a7d-4c55-9e0e-6a1f2d9c7b31")
_DERIVED_NAMESPACE_BYTES = _DERIVED_NAMESPACE.bytes
_VERSION_5_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_5_SET = (0x5000 << 64) | (0x8000 << 48)


def derived_event_id(kind: str, source_event_id: str) -> str:
    """A stable id for an event computed from another one (a name-based UUID, version 5).

    A worker that reprocesses an input after a crash emits the same ids again, so the repeats
    are dropped by every consumer's deduplication instead of acting twice. Computed as
    ``uuid.uuid5`` does (SHA-1 of namespace and name, version and variant bits set), without
    building UUID objects: the closed loop derives one id per decision.
    """
    name = f"{kind}:{source_event_id}".encode()
    digest = hashlib.sha1(_DERIVED_NAMESPACE_BYTES + name, usedforsecurity=False).digest()
    value = int.from_bytes(digest[:16], "big") & _VERSION_5_CLEAR | _VERSION_5_SET
    return _hyphenated(value)


def _base32(digest: bytes, length: int) -> str:
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, 32)
        chars.append(_CROCKFORD[index])
    return "".join(chars)


def pseudonymise_patient(enrolment_code: str, site_secret: bytes) -> str:
    """Derive a stable patient pseudonym with a keyed hash, so the mapping needs the site secret."""
    digest = hmac.new(site_secret, enrolment_code.encode("utf-8"), hashlib.sha256).digest()
    return "p-" + _base32(digest, 12)


def pseudonymise_device(address: str, site_secret: bytes) -> str:
    """Derive a device pseudonym from its BLE address, which itself never leaves the gateway."""
    digest = hmac.new(site_secret, address.upper().encode("ascii"), hashlib.sha256).digest()
    return "d-" + _base32(digest, 8)
