"""Enrolment: the gateway's signing key, and the worker's registry of the keys it accepts.

Two owner-only JSON files (0600, replaced atomically), so a reader never sees half of one:

* the gateway's key file (``gateway-key.json`` in its state folder): one key id, the patient it
  was issued for and its secret. The gateway signs every event with it (stream.signing).
* the worker's registry: every key ever issued, with its patient, when it was issued and, once
  revoked, when. A revoked key stays listed, so its records are refused as ``revoked``, not as
  ``unknown_key``, and the registry doubles as the record of who was enrolled when.

Rotation is enrolling again: a new key id is added while the old one stays valid until it is
revoked, so no event is refused mid-rotation. The worker's :class:`GatewayRegistry` looks at
the file's identity (inode, size, mtime) on every record and re-reads it when it changed, so a
revocation applies from the next record on, without a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from ingest.private_files import open_private, private_dir, write_private
from stream.errors import StreamError
from stream.signing import GatewayKey, SignatureError, check_mac, split_signature

__all__ = [
    "KEY_FILE",
    "EnrolledKey",
    "EnrolmentError",
    "GatewayRegistry",
    "issue_key",
    "read_gateway_key",
    "read_registry",
    "revoke_key",
    "write_gateway_key",
]

log = logging.getLogger(__name__)

#: The gateway's key file, in its state folder (``[live] state_dir``).
KEY_FILE = "gateway-key.json"


class EnrolmentError(StreamError):
    """A key file or registry that cannot be used, or a key id that is not enrolled."""


class KeyFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a gateway keeps: its key, and the patient it was issued for."""

    key_id: str
    patient_id: str
    secret: str  # hex
    issued_at_ns: int


class EnrolledKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One issued key as the worker's registry keeps it."""

    key_id: str
    patient_id: str
    secret: str  # hex
    issued_at_ns: int
    revoked_at_ns: int | None = None

    def gateway_key(self) -> GatewayKey:
        return GatewayKey(self.key_id, self.patient_id, bytes.fromhex(self.secret))


class RegistryFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    version: int = 1
    keys: list[EnrolledKey] = msgspec.field(default_factory=list)


def write_gateway_key(path: Path, key: GatewayKey, *, issued_at_ns: int) -> None:
    """Write the gateway's key file (0600; its folder made 0700 when missing)."""
    private_dir(path.parent, tighten=False)
    record = KeyFile(
        key_id=key.key_id,
        patient_id=key.patient_id,
        secret=key.secret.hex(),
        issued_at_ns=issued_at_ns,
    )
    write_private(path, msgspec.json.encode(record) + b"\n", fsync=True)


def read_gateway_key(path: Path) -> GatewayKey | None:
    """The gateway's key, or None when the gateway was never enrolled (no file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        record = msgspec.json.decode(data, type=KeyFile)
        return GatewayKey(record.key_id, record.patient_id, bytes.fromhex(record.secret))
    except (msgspec.DecodeError, ValueError) as exc:
        raise EnrolmentError(f"{path}: not a gateway key file ({exc})") from exc


def read_registry(path: Path) -> list[EnrolledKey]:
    """Every key in the registry at ``path`` (none when it does not exist yet)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        keys = msgspec.json.decode(data, type=RegistryFile).keys
        for key in keys:
            key.gateway_key()  # refuses a bad key id, patient id or secret
    except (msgspec.DecodeError, ValueError) as exc:
        raise EnrolmentError(f"{path}: not an enrolment registry ({exc})") from exc
    return keys


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise changes to one registry (two enrolments at once must not lose one)."""
    private_dir(path.parent, tighten=False)
    with open_private(path.with_name(path.name + ".lock"), "ab") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def _write_registry(path: Path, keys: list[EnrolledKey]) -> None:
    write_private(path, msgspec.json.encode(RegistryFile(keys=keys)) + b"\n", fsync=True)


def issue_key(registry: Path, patient_id: str, *, now_ns: int | None = None) -> EnrolledKey:
    """Issue a new key for ``patient_id`` and add it to the registry; earlier keys stay valid."""
    issued = time.time_ns() if now_ns is None else now_ns
    key = GatewayKey.generate(patient_id)
    entry = EnrolledKey(
        key_id=key.key_id, patient_id=patient_id, secret=key.secret.hex(), issued_at_ns=issued
    )
    with _locked(registry):
        keys = read_registry(registry)
        if any(k.key_id == key.key_id for k in keys):  # 48 random bits: never in practice
            raise EnrolmentError("key id collision; enrol again")
        _write_registry(registry, [*keys, entry])
    return entry


def revoke_key(registry: Path, key_id: str, *, now_ns: int | None = None) -> EnrolledKey:
    """Mark ``key_id`` revoked (it stays listed); revoking twice keeps the first time."""
    revoked = time.time_ns() if now_ns is None else now_ns
    with _locked(registry):
        keys = read_registry(registry)
        found = [k for k in keys if k.key_id == key_id]
        if not found:
            raise EnrolmentError(f"no key {key_id} in {registry}")
        if found[0].revoked_at_ns is not None:
            return found[0]
        updated = msgspec.structs.replace(found[0], revoked_at_ns=revoked)
        _write_registry(registry, [updated if k.key_id == key_id else k for k in keys])
    return updated


_UNSEEN = (-1, -1, -1)


class GatewayRegistry:
    """The worker's view of the registry: which key may sign for which patient.

    A missing file means no gateway is enrolled, and a file that cannot be read means none is
    trusted: every signed input is refused until the file is right (refusing is safe, since an
    event that is not acted on still stays on its topic). Never logs a secret.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity: tuple[int, int, int] | None = _UNSEEN
        self._keys: dict[str, tuple[EnrolledKey, GatewayKey]] = {}
        self._refresh()

    def _refresh(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            identity = None
        else:
            identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if identity == self._identity:
            return
        self._identity = identity
        try:
            keys = read_registry(self.path)
        except (EnrolmentError, OSError) as exc:
            log.error("cannot read the enrolment registry, trusting no gateway: %s", exc)
            keys = []
        if identity is None:
            log.warning("no enrolment registry at %s: every gateway is refused", self.path)
        elif stat.st_mode & 0o077:
            log.warning("%s is readable by others: it holds every gateway's secret", self.path)
        self._keys = {k.key_id: (k, k.gateway_key()) for k in keys}
        log.info("enrolment registry: %d keys, %d revoked", len(keys), self.revoked_count())

    def revoked_count(self) -> int:
        return sum(entry.revoked_at_ns is not None for entry, _ in self._keys.values())

    def entries(self) -> list[EnrolledKey]:
        self._refresh()
        return [entry for entry, _ in self._keys.values()]

    def verify(self, data: bytes, patient_id: str) -> None:
        """Raise :class:`~stream.signing.SignatureError` unless ``data`` is signed by a key
        enrolled, and not revoked, for ``patient_id`` (the patient the record claims)."""
        signed, key_id, mac = split_signature(data)
        self._refresh()
        found = self._keys.get(key_id)
        if found is None:
            raise SignatureError("unknown_key", f"key {key_id} is not enrolled")
        entry, key = found
        check_mac(signed, mac, key)  # first: the reasons below are then the key holder's doing
        if entry.patient_id != patient_id:
            raise SignatureError(
                "other_patient",
                f"key {key_id} is enrolled for {entry.patient_id}, not {patient_id}",
            )
        if entry.revoked_at_ns is not None:
            raise SignatureError("revoked", f"key {key_id} of {patient_id} was revoked")
