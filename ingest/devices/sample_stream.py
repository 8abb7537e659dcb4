"""Sensors described by data: one kind per sample-stream layout (TOML), no code per sensor.

The layout and its codec are :mod:`ingest.profiles.sample_stream`; every ``<name>.toml`` in
``ingest/profiles/`` is a built-in kind named ``sample-stream:<name>``, and a recording may carry
its own layout inline (imports, recording format 2). A frame's optional timestamp is the device
time of its first sample: a wrapping counter is unwrapped, guarded against corrupt values and
aligned to arrival times; frames without one are stamped back from their arrival.
"""

from __future__ import annotations

import importlib.resources

import numpy as np

from ingest.device_clock import (
    MAX_OFFSET_STEP_DOWN_NS,
    ClockAligner,
    CounterUnwrapper,
    DeviceClockGuard,
)
from ingest.devices.kind import (
    Advertisement,
    GattLink,
    GattTargets,
    Recognition,
    SampleBlock,
    recognised_by_service,
    sample_block,
)
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.sample_stream import SampleStreamProfile, load_builtin

SAMPLE_STREAM_PREFIX = "sample-stream:"


class SampleStreamDecoder:
    """One sensor's frames of one layout, on the gateway's clock."""

    def __init__(self, device_id: str, kind_name: str, layout: SampleStreamProfile) -> None:
        self.device_id = device_id
        self._kind_name = kind_name
        self._layout = layout
        self._guard = DeviceClockGuard()
        self._restart_timing()

    def _restart_timing(self) -> None:
        """The device clock really moved (set at connect, reset): old offsets no longer apply."""
        self._aligner = ClockAligner(max_step_down_ns=MAX_OFFSET_STEP_DOWN_NS)
        self._unwrapper = CounterUnwrapper(self._layout.timestamp_period_ns())

    def decode(self, notification: Notification) -> list[SampleBlock]:
        characteristic = notification.characteristic.lower()
        if characteristic != self._layout.characteristic:
            raise DecodeError(f"{self._kind_name} has no characteristic {characteristic}")
        return [self._decode_frame(notification)]

    def _decode_frame(self, notification: Notification) -> SampleBlock:
        profile = self._layout
        frame = profile.decode(notification.payload)
        count = len(frame.values)
        step_ns = 1e9 / profile.rate_hz
        arrival = notification.gateway_time_ns
        if frame.device_time_ns is None:
            first = arrival - int((count - 1) * step_ns)
        else:
            if self._guard.admit(self._unwrapper.peek(frame.device_time_ns), arrival):
                self._restart_timing()
            device_first = self._unwrapper.unwrap(frame.device_time_ns)
            device_last = device_first + int((count - 1) * step_ns)
            first = device_first + self._aligner.offset_ns(device_last, arrival)
        times = first + (np.arange(count) * step_ns).astype(np.int64)
        values = frame.values[:, 0] if frame.values.shape[1] == 1 else frame.values
        return sample_block(
            self.device_id,
            profile.signal,
            times,
            values,
            unit=profile.units,
            rate_hz=profile.rate_hz,
            site=profile.site,
        )


class SampleStreamDevice:
    """A sensor that notifies fixed-layout frames, as one :class:`SampleStreamProfile` says."""

    def __init__(self, layout: SampleStreamProfile) -> None:
        self.layout = layout
        self.name = SAMPLE_STREAM_PREFIX + layout.name
        self.gatt = GattTargets(services=(layout.service,), data=(layout.characteristic,))

    @classmethod
    def builtin(cls, layout_name: str) -> SampleStreamDevice:
        """The kind of ``ingest/profiles/<layout_name>.toml``."""
        return cls(load_builtin(layout_name))

    @classmethod
    def from_toml_text(cls, text: str) -> SampleStreamDevice:
        """The kind of a layout given as TOML text (a recording's inline profile)."""
        return cls(SampleStreamProfile.from_toml_text(text))

    def recognises(self, advertisement: Advertisement) -> Recognition:
        return recognised_by_service(advertisement, self.gatt)

    async def start(self, link: GattLink, now_ns: int) -> None:
        """Nothing: a sample-stream sensor notifies once subscribed."""

    def decoder(self, device_id: str) -> SampleStreamDecoder:
        return SampleStreamDecoder(device_id, self.name, self.layout)


def builtin_layouts() -> tuple[str, ...]:
    """Sample-stream layouts shipped in ingest/profiles (``<name>.toml``): a new TOML file there
    is recognised on scan and usable in ``[[devices]]`` with no code."""
    folder = importlib.resources.files("ingest.profiles")
    return tuple(sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".toml")))


DEVICE_KINDS = tuple(SampleStreamDevice.builtin(name) for name in builtin_layouts())
