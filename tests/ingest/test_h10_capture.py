"""The real Polar H10 capture through the gateway's own decoder: every frame, every sample.

The capture holds the PMD frames but not their arrival times, so arrivals are simulated: each
frame arrives 20-80 ms (seeded jitter) after its last sample on a gateway clock that is offset
from the sensor's by an arbitrary constant. Per-sample times must come out monotonic at the
sensor's rate whatever the jitter.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from ingest.decoding import DeviceDecoder
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.polar_pmd import PMD_DATA_UUID, POLAR_EPOCH_UNIX_NS

CAPTURE = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "ble"
    / "polar_h10_ecg_ride_first20min.bin"
)
MAGIC = b"H10 ECG v1.0 binary data"

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not CAPTURE.is_file(), reason="../shared/data/ble is not present"),
]


def _frames() -> list[bytes]:
    """The layout in ../shared/data/README.md: magic, then (u32 LE length, PMD frame)*."""
    raw = CAPTURE.read_bytes()
    assert raw.startswith(MAGIC)
    frames, offset = [], len(MAGIC)
    while offset < len(raw):
        (length,) = struct.unpack_from("<I", raw, offset)
        frames.append(raw[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return frames


def test_every_frame_and_sample_of_the_real_capture_decodes_in_order() -> None:
    frames = _frames()
    decoder = DeviceDecoder("d-h10ride1", "polar-h10")
    rng = np.random.default_rng(7)
    gateway_minus_sensor_ns = 123_456_789_000
    times: list[np.ndarray] = []
    errors = 0
    for payload in frames:
        sensor_ns = int.from_bytes(payload[1:9], "little") + POLAR_EPOCH_UNIX_NS
        arrival = sensor_ns + gateway_minus_sensor_ns + int(rng.uniform(20e6, 80e6))
        try:
            (block,) = decoder.decode(Notification("d-h10ride1", PMD_DATA_UUID, arrival, payload))
        except DecodeError:
            errors += 1
            continue
        assert block.stream == "ecg" and block.unit == "uV"
        times.append(block.times_ns)
    samples = np.concatenate(times)
    assert len(frames) == 2200
    assert samples.size == 160_600
    assert errors == 0
    assert bool(np.all(np.diff(samples) > 0))  # monotonic per-sample times
    measured_rate = (samples.size - 1) / ((samples[-1] - samples[0]) / 1e9)
    print(f"measured rate {measured_rate:.3f} Hz")
    assert 129.0 <= measured_rate <= 131.0
