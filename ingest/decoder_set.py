"""The decoders of every device a recording or a gateway declares, by device id.

Replay, `vagus replay --dry-run`, `vagus resonance` and the gateway all take a recording's
notifications through the same decoders: the device list comes from the recording's header (or
the gateway's configuration), a DeviceRecord met mid-stream declares or re-declares a device,
and a notification from a device never declared is a DecodeError like any malformed frame.
"""

from __future__ import annotations

from collections.abc import Mapping

from ingest.decoding import DeviceDecoder, SampleBlock
from ingest.errors import DecodeError
from ingest.importers.inline import decoder_for
from ingest.recording import DeviceEntry, NotificationRecord, RecordingHeader


class DecoderSet:
    """One :class:`DeviceDecoder` per device id."""

    def __init__(self, devices: Mapping[str, str | DeviceEntry]) -> None:
        """``devices``: a profile name, or a recording's entry (which may carry an inline
        profile), per device id."""
        self._decoders = {device_id: _decoder(device_id, d) for device_id, d in devices.items()}

    @classmethod
    def of_recording(cls, header: RecordingHeader) -> DecoderSet:
        return cls({d.device_id: d for d in header.devices})

    def declare(self, device: DeviceEntry) -> None:
        """A device declared mid-recording (a DeviceRecord) replaces any earlier decoder."""
        self._decoders[device.device_id] = decoder_for(device)

    def refused_samples(self) -> dict[str, int]:
        """Per device id, the values its device marked invalid and its decoder left out."""
        return {device_id: d.refused_samples for device_id, d in self._decoders.items()}

    def clock_corrections(self) -> dict[str, int]:
        """Per device id, the blocks moved forward because the device's clock went back."""
        return {device_id: d.clock_corrections for device_id, d in self._decoders.items()}

    def decode(self, record: NotificationRecord) -> list[SampleBlock]:
        """The record's samples; raises :class:`DecodeError` for bytes that do not fit."""
        decoder = self._decoders.get(record.device_id)
        if decoder is None:
            raise DecodeError("notification from an undeclared device")
        return decoder.decode(record.to_notification())


def _decoder(device_id: str, device: str | DeviceEntry) -> DeviceDecoder:
    if isinstance(device, DeviceEntry):
        return decoder_for(device)
    return DeviceDecoder(device_id, device)
