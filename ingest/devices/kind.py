"""What a device kind is: the one small protocol every kind of wearable implements.

A kind says, in one class: the name recordings and the configuration call it by; how to
recognise it in an advertisement; which characteristics carry data and which are control; what
it must be told after each connection before it streams; and how one notification's bytes become
samples on the gateway's clock (a stateful :class:`SampleDecoder` per device, because clock
alignment and RR-interval chaining need memory). Nothing here imports bleak: a start-up sequence
talks to a :class:`GattLink`, which the transport implements over a bleak client and a test can
implement with a few lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ingest.errors import IngestError
from ingest.notification import Notification


@dataclass(frozen=True, slots=True)
class SampleBlock:
    """Samples of one stream from one notification, stamped on the gateway's clock (ns)."""

    device_id: str
    stream: str
    times_ns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    unit: str
    rate_hz: float | None
    #: Where on the body the device measured (ingest.profiles.body_sensor_location's names),
    #: when its kind or profile says: a model validated on wrist motion must not be fed a
    #: chest strap's (vagus.pipeline prefers, and the stress scorer refuses, by site).
    site: str | None = None


def sample_block(
    device_id: str,
    stream: str,
    times: list[int] | npt.NDArray[np.int64],
    values: object,
    *,
    unit: str,
    rate_hz: float | None,
    site: str | None = None,
) -> SampleBlock:
    """A :class:`SampleBlock` with its arrays in the canonical dtypes (int64 ns, float64)."""
    return SampleBlock(
        device_id=device_id,
        stream=stream,
        times_ns=np.asarray(times, dtype=np.int64),
        values=np.asarray(values, dtype=np.float64),
        unit=unit,
        rate_hz=rate_hz,
        site=site,
    )


@dataclass(frozen=True, slots=True)
class GattTargets:
    """The GATT a kind speaks; UUIDs in lower-case 128-bit form."""

    services: tuple[str, ...]
    """Advertised services that identify the kind (the scan filter is their union)."""
    data: tuple[str, ...]
    """Characteristics whose notifications are data: subscribed, recorded and decoded."""
    control: tuple[str, ...] = ()
    """Characteristics its start-up writes or listens to; never forwarded as data."""
    read: tuple[str, ...] = ()
    """Characteristics read once per connection, before the data are subscribed, where the
    device has them: each value is recorded and decoded as the device's notification (so a
    replay decodes it too). Device facts the decoder needs, such as where a sensor sits."""


@dataclass(frozen=True, slots=True)
class Advertisement:
    """What a kind may recognise a device by: advertised services and name."""

    service_uuids: frozenset[str]
    """Lower-case 128-bit UUIDs."""
    local_name: str = ""


class Recognition(IntEnum):
    """How sure a kind is that an advertisement is one of its devices; the strongest wins."""

    NO = 0
    GENERIC = 1
    """A standard service that devices of more specific kinds advertise too (Heart Rate)."""
    SPECIFIC = 2
    """A proprietary service or a model name."""


class StartupError(IngestError):
    """A device refused or did not answer its start-up; the session reconnects and retries."""


class GattLink(Protocol):
    """The GATT operations a start-up sequence may use on a connected device."""

    def has(self, uuid: str) -> bool:
        """Whether the connected device offers characteristic ``uuid``."""
        ...

    async def write(self, uuid: str, payload: bytes) -> None:
        """Write with response."""
        ...

    async def subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> None:
        """Notifications or indications of ``uuid`` go to ``on_value`` (control, not data)."""
        ...


class SampleDecoder(Protocol):
    """One device's codec and clock: notifications in, samples on the gateway's clock out.

    A decoder whose device marks some of its own values invalid (a PPI interval with the
    blocker bit) leaves them out of its blocks and counts them in an ``int`` attribute
    ``refused_samples``, which the gateway reports (:attr:`DeviceDecoder.refused_samples`):
    left out, never lost without a trace."""

    def decode(self, notification: Notification) -> list[SampleBlock]:
        """Raises :class:`~ingest.errors.DecodeError` for bytes that do not fit; never else."""
        ...


class DeviceKind(Protocol):
    """One kind of device. Built-in kinds live one per module in ``ingest/devices/`` and are
    listed in that module's ``DEVICE_KINDS``; others join through :func:`register`."""

    @property
    def name(self) -> str:
        """As written in recordings' device lists and in ``[[devices]]`` entries."""
        ...

    @property
    def gatt(self) -> GattTargets: ...

    def recognises(self, advertisement: Advertisement) -> Recognition: ...

    async def start(self, link: GattLink, now_ns: int) -> None:
        """After every connection, once the data characteristics are subscribed: whatever the
        device must be told before it streams (``now_ns``: the gateway's clock, Unix ns).
        Raises :class:`StartupError` on any refusal, so the session reconnects."""
        ...

    def decoder(self, device_id: str) -> SampleDecoder:
        """A fresh decoder (codec and clock state) for one device of this kind."""
        ...


def recognised_by_service(advertisement: Advertisement, gatt: GattTargets) -> Recognition:
    """SPECIFIC when the advertisement names one of ``gatt.services``: the common case."""
    if advertisement.service_uuids & set(gatt.services):
        return Recognition.SPECIFIC
    return Recognition.NO
