"""Device kinds: one class per kind of wearable, and the registry that names them.

A kind (:class:`DeviceKind`) holds everything vagus knows about one kind of device: its name in
recordings and the configuration, how it advertises, its GATT data and control characteristics,
its start-up after each connection, and its decoder (codec and clock). Built-in kinds are one
module each in this package (``heart_rate``, ``polar_h10``, ``sample_stream``);
:mod:`ingest.devices.registry` finds them, and :func:`register` adds others.
"""

from ingest.devices.kind import (
    Advertisement,
    DeviceKind,
    GattLink,
    GattTargets,
    Recognition,
    SampleBlock,
    SampleDecoder,
    StartupError,
    recognised_by_service,
    sample_block,
)
from ingest.devices.registry import (
    UnknownDeviceError,
    device_kind,
    device_kinds,
    match_advertisement,
    register,
    scan_service_uuids,
    unregister,
)

__all__ = [
    "Advertisement",
    "DeviceKind",
    "GattLink",
    "GattTargets",
    "Recognition",
    "SampleBlock",
    "SampleDecoder",
    "StartupError",
    "UnknownDeviceError",
    "device_kind",
    "device_kinds",
    "match_advertisement",
    "recognised_by_service",
    "register",
    "sample_block",
    "scan_service_uuids",
    "unregister",
]
