"""Pseudonymous device ids: a keyed hash of the address, so ids are stable per gateway and
cannot be turned back into an address (or matched across gateways) without the gateway's secret.

The secret is 32 random bytes in ``<state dir>/device-id.key``, created with mode 0600 on first
use. It is never in the repository; losing it only changes every device's id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from ingest.errors import IngestError
from ingest.private_files import private_dir

SECRET_FILE = "device-id.key"  # noqa: S105 (a file name, not a secret)
SECRET_BYTES = 32
ID_CHARS = 8
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
#: A 48-bit Bluetooth address as BlueZ and bumble print it (``AA:BB:CC:DD:EE:FF``), with dashes,
#: or inside a BlueZ D-Bus object path (``/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF``).
ADDRESS_PATTERN = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[:_-]){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"
)
REDACTED = "<address>"
#: A device's advertised name or alias in bleak's dumps of BlueZ properties
#: (``'Name': <dbus_fast.signature.Variant ('s', Polar H10 A1B2C3D4)>``): names carry serial
#: numbers, and the dumps list every device BlueZ has heard, the neighbours' included.
DBUS_NAME_PATTERN = re.compile(r"('(?:Name|Alias)': <[\w.]*Variant \('s', ).*?(\)>)")
REDACTED_NAME = "<name>"
_FORMATTER = logging.Formatter()


def load_or_create_secret(state_dir: Path) -> bytes:
    """The gateway's device-id secret; created 0600 on first use, never overwritten.

    A new secret is written to a private temporary file and hard-linked into place, so a
    second process starting at the same moment reads a whole secret or creates none.
    """
    path = state_dir / SECRET_FILE
    private_dir(state_dir)  # 0700 whatever the umask (mkdir's mode passes through it)
    if path.exists():
        return _existing_secret(path)
    secret = secrets.token_bytes(SECRET_BYTES)
    fd, temporary = tempfile.mkstemp(dir=state_dir, prefix=".device-id.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return _existing_secret(path)
    finally:
        os.unlink(temporary)
    return secret


def _existing_secret(path: Path) -> bytes:
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise IngestError(f"{path} is damaged: {len(secret)} bytes, expected {SECRET_BYTES}")
    if path.stat().st_mode & 0o077:
        raise IngestError(f"{path} is readable by others; run: chmod 600 {path}")
    return secret


def device_id_for(address: str, secret: bytes) -> str:
    """``d-`` and 8 Crockford base32 characters of HMAC-SHA256(secret, normalised address)."""
    normalised = address.strip().upper().replace("-", ":")
    digest = hmac.new(secret, normalised.encode("utf-8"), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(ID_CHARS):
        number, index = divmod(number, 32)
        chars.append(_CROCKFORD[index])
    return "d-" + "".join(chars)


def redact_addresses(text: str) -> str:
    """``text`` without Bluetooth addresses or BlueZ's advertised names."""
    text = DBUS_NAME_PATTERN.sub(rf"\g<1>{REDACTED_NAME}\g<2>", text)
    return ADDRESS_PATTERN.sub(REDACTED, text)


def _sensitive(message: str) -> bool:
    return ADDRESS_PATTERN.search(message) is not None or "Variant ('s'" in message


class _RedactingFactory:
    """Wraps the log record factory: bleak and bleak-retry-connector put addresses in their
    debug messages, and a record must not carry one whichever library logged it."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: object, **kwargs: object) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record  # a malformed record is logging's own business
        if _sensitive(message):
            record.msg, record.args = redact_addresses(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_addresses(_FORMATTER.formatException(record.exc_info))
        return record


def install_address_redaction() -> None:
    """Redact Bluetooth addresses from every log record of this process (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(factory))
