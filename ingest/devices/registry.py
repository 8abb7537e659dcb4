"""What the transport needs to know per profile: how to recognise a device in an advertisement,
which characteristics carry its data, and which streams its decoder produces.

The profile names are the ones :class:`ingest.decoding.DeviceDecoder` understands, so a device
found here decodes live and in replay alike.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import cache

from bleak.backends.scanner import AdvertisementData

from ingest.errors import IngestError
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, HEART_RATE_SERVICE_UUID
from ingest.profiles.polar_pmd import PMD_DATA_UUID, PMD_SERVICE_UUID
from ingest.profiles.sample_stream import load_builtin

SAMPLE_STREAM_PREFIX = "sample-stream:"


def builtin_sample_streams() -> tuple[str, ...]:
    """Sample-stream profiles shipped in ingest/profiles (``<name>.toml``): a new TOML file
    there is recognised on scan and usable in ``[[devices]]`` with no code."""
    folder = importlib.resources.files("ingest.profiles")
    return tuple(sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".toml")))


@dataclass(frozen=True, slots=True)
class LiveProfile:
    name: str
    service_uuids: tuple[str, ...]
    """Any of these in an advertisement identifies the profile (with ``name_prefixes``)."""
    name_prefixes: tuple[str, ...]
    """Advertised-name prefixes that make a device this profile rather than a generic one."""
    data_characteristics: tuple[str, ...]
    """Characteristics whose notifications are data: recorded and decoded."""


def _sample_stream(name: str) -> LiveProfile:
    stream = load_builtin(name)
    return LiveProfile(
        name=SAMPLE_STREAM_PREFIX + name,
        service_uuids=(stream.service,),
        name_prefixes=(),
        data_characteristics=(stream.characteristic,),
    )


POLAR_H10 = LiveProfile(
    name="polar-h10",
    service_uuids=(PMD_SERVICE_UUID, HEART_RATE_SERVICE_UUID),
    # Only the H10 streams ECG over PMD; H9, H7, OH1 and Verity Sense are heart-rate devices.
    name_prefixes=("Polar H10",),
    data_characteristics=(HEART_RATE_MEASUREMENT_UUID, PMD_DATA_UUID),
)
HEART_RATE = LiveProfile(
    name="heart-rate",
    service_uuids=(HEART_RATE_SERVICE_UUID,),
    name_prefixes=(),
    data_characteristics=(HEART_RATE_MEASUREMENT_UUID,),
)


@cache
def live_profiles() -> tuple[LiveProfile, ...]:
    """Most specific first: a Polar H10 also advertises the Heart Rate Service."""
    return (POLAR_H10, *(_sample_stream(n) for n in builtin_sample_streams()), HEART_RATE)


def profile_named(name: str) -> LiveProfile:
    for profile in live_profiles():
        if profile.name == name:
            return profile
    if name.startswith(SAMPLE_STREAM_PREFIX):
        return _sample_stream(name.removeprefix(SAMPLE_STREAM_PREFIX))  # raises for unknown
    known = ", ".join(p.name for p in live_profiles())
    raise IngestError(f"unknown device profile {name!r} (known: {known})")


def scan_service_uuids() -> list[str]:
    return sorted({u for p in live_profiles() for u in p.service_uuids})


def match_profile(adv: AdvertisementData) -> LiveProfile | None:
    """The profile an advertisement belongs to, or None for an unsupported device."""
    uuids = {u.lower() for u in adv.service_uuids}
    name = adv.local_name or ""
    for profile in live_profiles():
        if profile.name_prefixes:
            if any(name.startswith(p) for p in profile.name_prefixes):
                return profile
            if PMD_SERVICE_UUID in uuids and profile is POLAR_H10:
                return profile
            continue
        if uuids & set(profile.service_uuids):
            return profile
    return None
