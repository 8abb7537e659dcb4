"""The unit of raw data: one GATT notification as the gateway received it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification, exactly as received, before any decoding.

    ``device_id`` is the gateway's pseudonymous id for the device (never its MAC address).
    ``gateway_time_ns`` is the gateway's wall clock (Unix epoch, ns) at receipt; replay keeps it.
    ``device_time_ns`` is a transport-level device timestamp when one exists (rarely); timestamps
    inside the payload (Polar PMD frames) are the decoder's business.
    """

    device_id: str
    characteristic: str
    gateway_time_ns: int
    payload: bytes
    device_time_ns: int | None = None
