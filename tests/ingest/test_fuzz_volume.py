"""Volume fuzzing: 100,000 random or mutated frames per decoder, each outcome counted.

The hypothesis tests in test_profiles.py search cleverly but briefly; this one runs the volume
the ingest issue asks for, from a fixed seed so a failure reproduces. Every frame must either
decode or raise DecodeError (a clear, counted error); anything else fails the test with the
frame that caused it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from ingest.decoding import DeviceDecoder
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.heart_rate import (
    HEART_RATE_MEASUREMENT_UUID,
    decode_heart_rate_measurement,
    encode_heart_rate_measurement,
)
from ingest.profiles.polar_pmd import (
    PMD_DATA_UUID,
    decode_control_point_response,
    decode_pmd_data,
    decode_settings,
    encode_pmd_acc_frame,
    encode_pmd_ecg_frame,
)
from ingest.profiles.sample_stream import load_builtin

FRAMES_PER_DECODER = 100_000
EDA = load_builtin("vagus-eda-v1")
SEEDS = [
    encode_heart_rate_measurement(
        72, rr_intervals_1024=(800, 812), sensor_contact=True, energy_expended_kj=9
    ),
    encode_heart_rate_measurement(300, rr_intervals_1024=(400,) * 8),
    encode_pmd_ecg_frame(123_456_789, list(range(-36, 37))),
    encode_pmd_acc_frame(987_654_321, [[1, -2, 1000]] * 12, frame_type=2),
    bytes([0x02, *(5).to_bytes(8, "little"), 0x80, 1, 0, 2, 0, 3, 0, 4, 3, 0b10101010, 0xFF]),
    bytes([0xF0, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x82, 0x00, 0x01, 0x01, 0x0E, 0x00]),
    EDA.encode(np.arange(8).reshape(8, 1), 1234 * 1_000_000),
]


def _frames(seed: int) -> list[bytes]:
    """Half uniformly random byte strings, half valid frames with bit flips, cuts and tails."""
    rng = np.random.default_rng(seed)
    frames: list[bytes] = []
    for i in range(FRAMES_PER_DECODER):
        if i % 2:
            frames.append(rng.bytes(int(rng.integers(0, 260))))
            continue
        mutated = bytearray(SEEDS[int(rng.integers(len(SEEDS)))])
        for _ in range(int(rng.integers(0, 6))):
            mutated[int(rng.integers(len(mutated)))] ^= 1 << int(rng.integers(8))
        cut = int(rng.integers(0, len(mutated) + 1))
        frames.append(bytes(mutated[:cut]) + rng.bytes(int(rng.integers(0, 12))))
    return frames


def _stateful(profile: str, characteristic: str) -> Callable[[bytes], object]:
    """The gateway's own path: clock alignment and per-stream state included."""
    decoder = DeviceDecoder("d-0123abcd", profile)
    arrival = iter(range(1_700_000_000 * 10**9, 2**62, 10_000_000))
    return lambda payload: decoder.decode(
        Notification("d-0123abcd", characteristic, next(arrival), payload)
    )


DECODERS: dict[str, Callable[[], Callable[[bytes], object]]] = {
    "heart_rate_measurement": lambda: decode_heart_rate_measurement,
    "pmd_data": lambda: decode_pmd_data,
    "pmd_control_point_response": lambda: decode_control_point_response,
    "pmd_settings": lambda: decode_settings,
    "sample_stream_eda": lambda: EDA.decode,
    "gateway_polar_h10": lambda: _stateful("polar-h10", PMD_DATA_UUID),
    "gateway_heart_rate": lambda: _stateful("heart-rate", HEART_RATE_MEASUREMENT_UUID),
    "gateway_eda": lambda: _stateful("sample-stream:vagus-eda-v1", EDA.characteristic),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DECODERS))
def test_a_hundred_thousand_frames_decode_or_fail_clearly(name: str) -> None:
    decode = DECODERS[name]()
    outcomes: Counter[str] = Counter()
    for payload in _frames(seed=sorted(DECODERS).index(name)):
        try:
            decode(payload)
        except DecodeError as exc:
            outcomes["decode_error" if str(exc) else "decode_error_without_message"] += 1
        except Exception as exc:  # noqa: BLE001 - the point: report the frame, whatever it was
            pytest.fail(f"{name}: {type(exc).__name__}: {exc} on frame {payload.hex()}")
        else:
            outcomes["decoded"] += 1
    print(name, dict(outcomes))
    assert sum(outcomes.values()) == FRAMES_PER_DECODER
    assert outcomes["decode_error_without_message"] == 0  # every error says what was wrong
    assert outcomes["decode_error"] > 0  # the generator does produce bad frames
