"""Imported samples as notifications of an inline sample-stream profile (recording format 2).

An importer does not invent a new decoding path: each imported signal becomes a device whose
:class:`~ingest.recording.DeviceEntry` carries the TOML text of a declarative sample-stream
profile (rate, scale, units and sample type of *that* file). Samples are cut into frames of about
one second; each frame starts with a u64 device timestamp in ns (Unix epoch) of its first sample,
and its notification's ``gateway_time_ns`` is the time of its last sample, computed exactly as
the decoder computes it. The decoder's clock offset is then always zero, so replay gives every
sample back the time the importer gave it: ``start + i / rate``, to the nanosecond.
"""

from __future__ import annotations

import hashlib
import uuid
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from ingest.decoding import DeviceDecoder
from ingest.devices.sample_stream import SampleStreamDevice
from ingest.errors import RecordingError
from ingest.profiles.sample_stream import SampleStreamProfile
from ingest.recording import DeviceEntry, Marker, NotificationRecord
from stream.ids import pseudonymise_device, pseudonymise_patient

#: Service UUID under which imported streams are declared (generated for vagus).
IMPORT_SERVICE_UUID = "5f1d2c3b-9e8a-4b7c-a6d5-0e4f3a2b1c0d"
_IMPORT_NAMESPACE = uuid.UUID(IMPORT_SERVICE_UUID)
#: Keyed-hash secret for import pseudonyms: they only need to be stable and name-proof.
_IMPORT_SECRET = b"vagus-import"

ImportedRecord = NotificationRecord | Marker

#: The unit the pipeline reads each stream in (docs/recording-format.md): an importer converts
#: to it, and a profile that says otherwise is refused before anything is written.
PIPELINE_UNITS = {"ecg": "uV", "eda": "uS", "acc": "mG", "ibi": "s", "counts": "counts"}


def import_device_id(source: str, stream: str) -> str:
    """A stable pseudonymous device id for one imported signal of one source file."""
    digest = hashlib.sha256(f"{source}\0{stream}".encode()).hexdigest()
    return pseudonymise_device(digest, _IMPORT_SECRET)


def import_patient_id(source: str) -> str:
    """A stable patient pseudonym for an imported source (the file name never appears)."""
    return pseudonymise_patient(hashlib.sha256(source.encode()).hexdigest(), _IMPORT_SECRET)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def inline_profile_toml(
    *,
    name: str,
    signal: str,
    description: str,
    sample_type: str,
    channels: int = 1,
    scale: float = 1.0,
    offset: float = 0.0,
    units: str,
    rate_hz: float,
    site: str | None = None,
) -> str:
    """TOML of a sample-stream profile with a u64 ns timestamp per frame (floats written by
    ``repr``, which round-trips exactly); ``site``, where the device was worn, when the source
    says (an E4 is a wrist band)."""
    expected = PIPELINE_UNITS.get(signal)
    if expected is not None and units != expected:
        raise RecordingError(
            f"{name}: {signal} must be in {expected} (the pipeline's unit), not {units}"
        )
    characteristic = uuid.uuid5(_IMPORT_NAMESPACE, name)
    return "\n".join(
        [
            "[profile]",
            f"name = {_toml_string(name)}",
            f"signal = {_toml_string(signal)}",
            f"description = {_toml_string(description)}",
            *([f"site = {_toml_string(site)}"] if site is not None else []),
            "[gatt]",
            f'service = "{IMPORT_SERVICE_UUID}"',
            f'characteristic = "{characteristic}"',
            "[frame]",
            'byte_order = "little"',
            'timestamp = { type = "u64", unit = "ns" }',
            f'sample = {{ type = "{sample_type}", channels = {channels} }}',
            "[signal]",
            f"scale = {scale!r}",
            f"offset = {float(offset)!r}",
            f"units = {_toml_string(units)}",
            f"rate_hz = {float(rate_hz)!r}",
            "",
        ]
    )


def device_entry(*, device_id: str, label: str, profile_toml: str) -> DeviceEntry:
    kind = SampleStreamDevice.from_toml_text(profile_toml)  # validates before writing
    return DeviceEntry(
        device_id=device_id,
        profile=kind.name,
        label=label,
        stream_profile=profile_toml,
    )


def decoder_for(entry: DeviceEntry) -> DeviceDecoder:
    """The decoder for a recording's device, with its inline profile when it carries one."""
    if entry.stream_profile is None:
        return DeviceDecoder(entry.device_id, entry.profile)
    kind = SampleStreamDevice.from_toml_text(entry.stream_profile)
    return DeviceDecoder(entry.device_id, entry.profile, kind=kind)


def _rate(rate_hz: float) -> Fraction:
    return Fraction(rate_hz).limit_denominator(1_000_000)


def sample_offset_ns(index: int, rate_hz: float) -> int:
    """``floor(index * 1e9 / rate)`` exactly, in integer arithmetic."""
    rate = _rate(rate_hz)
    return index * 10**9 * rate.denominator // rate.numerator


def sample_times_ns(start_ns: int, rate_hz: float, count: int) -> npt.NDArray[np.int64]:
    """Exact sample times ``start + floor(i * 1e9 / rate)`` in integer arithmetic."""
    if count and start_ns + sample_offset_ns(count - 1, rate_hz) >= 2**63:
        raise RecordingError("sample times run past the year 2262 (signed 64-bit ns)")
    rate = _rate(rate_hz)
    index = np.arange(count, dtype=object)
    offsets = (index * (10**9 * rate.denominator)) // rate.numerator
    return np.asarray(start_ns + offsets, dtype=np.int64)


def frame_records(
    profile_entry: DeviceEntry,
    raw_samples: npt.NDArray[np.generic],
    *,
    start_ns: int,
) -> list[NotificationRecord]:
    """Notifications of ``raw_samples`` (shape (n,) or (n, channels)), one second per frame."""
    assert profile_entry.stream_profile is not None
    profile = SampleStreamProfile.from_toml_text(profile_entry.stream_profile)
    if not len(raw_samples):
        return []  # an empty file is an empty stream, not an error
    samples = np.asarray(raw_samples).reshape(len(raw_samples), -1)
    times = sample_times_ns(start_ns, profile.rate_hz, len(samples))
    per_frame = max(1, int(profile.rate_hz))
    step_ns = 1e9 / profile.rate_hz
    records = []
    for first in range(0, len(samples), per_frame):
        frame = samples[first : first + per_frame]
        device_first = int(times[first])
        payload = profile.encode(frame, device_first)
        # the decoder's own expression for the frame's last sample, so its clock offset is 0
        last_ns = device_first + int((len(frame) - 1) * step_ns)
        records.append(
            NotificationRecord(
                profile_entry.device_id, profile.characteristic, last_ns, None, payload
            )
        )
    return records


def event_records(
    profile_entry: DeviceEntry, values: npt.NDArray[np.generic], times_ns: list[int]
) -> list[NotificationRecord]:
    """One single-sample frame per irregular event (e.g. an inter-beat interval), at its time."""
    assert profile_entry.stream_profile is not None
    profile = SampleStreamProfile.from_toml_text(profile_entry.stream_profile)
    return [
        NotificationRecord(
            profile_entry.device_id,
            profile.characteristic,
            time_ns,
            None,
            profile.encode(np.asarray([value]), time_ns),
        )
        for value, time_ns in zip(values, times_ns, strict=True)
    ]


def in_time_order(records: list[ImportedRecord]) -> list[ImportedRecord]:
    """All streams and markers interleaved by time (stable), as a live gateway would see them."""
    return sorted(records, key=lambda r: r.gateway_time_ns)
