"""Is this gateway enrolled? Its signing key as the gateway and `vagus doctor` both see it.

A gateway without a usable key is not stopped: it still reads its sensors, spools and sends
every event, so no data is lost, but unsigned. The closed loop dead-letters those (they stay on
their topics for every other reader), so no session starts until the gateway is enrolled. That
is said once, loudly, at start, and `vagus doctor` reports it as a problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from stream.enrolment import EnrolmentError, read_gateway_key
from stream.signing import GatewayKey

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """The key to sign with (None: send unsigned) and, when something is wrong, what."""

    key: GatewayKey | None
    problem: str | None = None


def key_status(key_file: Path, patient_id: str | None) -> KeyStatus:
    """Read ``key_file`` and judge it for ``patient_id`` (None: no patient to compare with).

    A key issued for another patient is still used: the loop then refuses the events as
    ``other_patient``, which names the mix-up in every dead letter.
    """
    try:
        key = read_gateway_key(key_file)
    except (EnrolmentError, OSError) as exc:
        return KeyStatus(None, f"unusable gateway key ({exc}): events go out unsigned")
    if key is None:
        return KeyStatus(
            None,
            f"gateway not enrolled (no {key_file.name} in its state folder): events go out"
            " unsigned and the closed loop will not act on them; see `vagus enrol issue`",
        )
    if patient_id is not None and key.patient_id != patient_id:
        return KeyStatus(
            key,
            f"gateway key {key.key_id} was issued for {key.patient_id}, not {patient_id}:"
            " the closed loop will not act on these events; enrol this patient",
        )
    return KeyStatus(key)


def signing_key(key_file: Path, patient_id: str) -> GatewayKey | None:
    """The key the gateway signs with; a problem is logged here, once per gateway start."""
    status = key_status(key_file, patient_id)
    if status.problem is not None:
        log.warning("%s", status.problem)
    else:
        assert status.key is not None
        log.info("signing events with gateway key %s", status.key.key_id)
    return status.key
