"""From notifications to timed samples: one :class:`DeviceDecoder` per device.

The device's kind (:mod:`ingest.devices`) supplies the codec and the clock handling; this adds
the one rule every kind shares, that a stream's times only ever increase. Live BLE and replay both
feed notifications here, so both produce the same samples.
"""

from __future__ import annotations

from dataclasses import replace

from ingest.devices.kind import DeviceKind, SampleBlock
from ingest.devices.registry import UnknownDeviceError, device_kind
from ingest.errors import DecodeError
from ingest.notification import Notification

__all__ = ["DeviceDecoder", "SampleBlock"]


class DeviceDecoder:
    """Decodes every notification of one device as its kind says."""

    def __init__(self, device_id: str, profile: str, *, kind: DeviceKind | None = None) -> None:
        """``profile`` is the kind's name as a recording or the configuration gives it; ``kind``
        stands in for the registered one (a recording's inline sample-stream layout)."""
        self.device_id = device_id
        self.profile = profile
        if kind is None:
            try:
                kind = device_kind(profile)
            except UnknownDeviceError as exc:
                raise DecodeError(str(exc)) from exc
        self._decoder = kind.decoder(device_id)
        self._last_ns: dict[str, int] = {}
        self.clock_corrections = 0

    @property
    def refused_samples(self) -> int:
        """Values the device itself marked invalid, left out of the blocks (see SampleDecoder)."""
        return int(getattr(self._decoder, "refused_samples", 0))

    def decode(self, notification: Notification) -> list[SampleBlock]:
        """Samples in ``notification``; raises :class:`DecodeError` for bytes that do not fit.

        Per stream, sample times only ever increase (see :meth:`_monotonic`)."""
        return [self._monotonic(block) for block in self._decoder.decode(notification)]

    def _monotonic(self, block: SampleBlock) -> SampleBlock:
        """Keep a stream's times increasing across blocks.

        The aligner slews a falling offset, so this only acts when a device's own timestamps go
        backwards (a clock reset): the block is moved just after the previous sample, never
        earlier than it (``clock_corrections`` counts them).
        """
        if block.times_ns.size == 0:
            return block
        last = self._last_ns.get(block.stream)
        first = int(block.times_ns[0])
        if last is not None and first <= last:
            block = replace(block, times_ns=block.times_ns + (last + 1 - first))
            self.clock_corrections += 1
        self._last_ns[block.stream] = int(block.times_ns[-1])
        return block
