"""Identifiers that appear in events: time-ordered event ids and pseudonym formats.

Pseudonyms have a fixed, name-proof shape so that a name or a MAC address cannot be typed into
an event by mistake: ``p-`` or ``d-`` followed by lowercase Crockford base32.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"

PATIENT_ID_PATTERN = r"^p-[0-9a-hjkmnp-tv-z]{12}$"
DEVICE_ID_PATTERN = r"^d-[0-9a-hjkmnp-tv-z]{8}$"
#: Stand-in patient id for dead letters whose key could not be read.
UNKNOWN_PATIENT_ID = "p-000000000000"


def new_event_id() -> str:
    """A UUIDv7-layout id: millisecond time prefix (sortable, debuggable) plus 74 random bits."""
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= (rand >> 68 & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return str(uuid.UUID(int=value))


_DERIVED_NAMESPACE = uuid.UUID("5b0c0f3e-8a7d-4c55-9e0e-6a1f2d9c7b31")


def derived_event_id(kind: str, source_event_id: str) -> str:
    """A stable id for an event computed from another one (a name-based UUID, version 5).

    A worker that reprocesses an input after a crash emits the same ids again, so the repeats
    are dropped by every consumer's deduplication instead of acting twice.
    """
    return str(uuid.uuid5(_DERIVED_NAMESPACE, f"{kind}:{source_event_id}"))


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
