"""Profile codecs: real device bytes, every HRM flag combination, and fuzzing.

Real bytes come from ../shared/data/ble (read there, never copied): Polar H10 PMD control-point
exchanges and ECG notifications, Polar H7 Heart Rate Measurements, and other libraries' vectors.
"""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.devices.polar_h10 import PolarH10Device
from ingest.devices.sample_stream import SampleStreamDevice
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.heart_rate import decode_heart_rate_measurement, encode_heart_rate_measurement
from ingest.profiles.polar_pmd import (
    PMD_DATA_UUID,
    PmdAccFrame,
    PmdEcgFrame,
    decode_control_point_response,
    decode_pmd_data,
    decode_settings,
    encode_pmd_acc_frame,
    encode_pmd_ecg_frame,
)
from ingest.profiles.sample_stream import ProfileError, SampleStreamProfile, load_builtin

BLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ble"


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Any]:
    path = BLE / "ble_byte_fixtures.json"
    if not path.exists():
        pytest.skip("../shared/data/ble is not beside this checkout")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


# --- Heart Rate Measurement -------------------------------------------------------------------


@pytest.mark.shared_data
def test_real_polar_h7_notifications(fixtures: dict[str, Any]) -> None:
    for case in fixtures["hrm_0x2A37_polar_h7_gatttool"]["notifications"]:
        decoded = decode_heart_rate_measurement(bytes.fromhex(case["hex"]))
        expected = case["decoded_here"]
        assert decoded.heart_rate_bpm == expected["hr_bpm"]
        assert list(decoded.rr_intervals_1024) == expected["rr_1024"]
        if "rr_ms" in expected:
            assert list(decoded.rr_intervals_ms) == pytest.approx(expected["rr_ms"])


@pytest.mark.shared_data
def test_other_libraries_vectors(fixtures: dict[str, Any]) -> None:
    smart = fixtures["hrm_0x2A37_smartgattlib_test"]
    decoded = decode_heart_rate_measurement(bytes.fromhex(smart["hex"]))
    assert decoded.heart_rate_bpm == smart["expected_by_source"]["hr_bpm"]
    assert decoded.sensor_contact is True
    rr_s = [rr / 1024 for rr in decoded.rr_intervals_1024]
    assert rr_s == smart["expected_by_source"]["rr_s"]
    for case in fixtures["hrm_0x2A37_polar_sdk_tests"]["cases"]:
        if case["hex"] == "11000000":
            # A uint16 heart rate then a single RR byte: Polar's SDK reads RR 0 from it; the
            # specification has no 1-byte RR, so vagus refuses the frame and says why.
            with pytest.raises(DecodeError, match="odd trailing byte"):
                decode_heart_rate_measurement(bytes.fromhex(case["hex"]))
            continue
        decoded = decode_heart_rate_measurement(bytes.fromhex(case["hex"]))
        expected = case["expected_by_source"]
        if "hr" in expected:
            assert decoded.heart_rate_bpm == expected["hr"]
        if "energy" in expected:
            assert decoded.energy_expended_kj == expected["energy"]
        if "rrs_1024" in expected:
            assert list(decoded.rr_intervals_1024) == expected["rrs_1024"]
        if expected.get("sensorContactSupported") is False:
            assert decoded.sensor_contact is None
        elif "sensorContact" in expected:
            assert decoded.sensor_contact is expected["sensorContact"]


@settings(max_examples=300, deadline=None)
@given(
    bpm=st.integers(0, 0xFFFF),
    contact=st.sampled_from([None, True, False]),
    energy=st.none() | st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=8),
    force16=st.booleans(),
)
def test_heart_rate_round_trips_every_flag_combination(
    bpm: int, contact: bool | None, energy: int | None, rr: list[int], force16: bool
) -> None:
    payload = encode_heart_rate_measurement(
        bpm,
        rr_intervals_1024=tuple(rr),
        sensor_contact=contact,
        energy_expended_kj=energy,
        force_uint16=force16,
    )
    decoded = decode_heart_rate_measurement(payload)
    assert (decoded.heart_rate_bpm, decoded.sensor_contact) == (bpm, contact)
    assert decoded.energy_expended_kj == energy
    assert list(decoded.rr_intervals_1024) == rr
    assert bool(payload[0] & 0x01) == (force16 or bpm > 255)


@pytest.mark.parametrize(
    ("hex_payload", "fragment"),
    [
        ("", "empty"),
        ("01", "2 bytes"),
        ("084801", "energy"),
        ("1048aa", "RR"),
        ("0148", "heart rate"),
    ],
)
def test_truncated_heart_rate_fields_are_named(hex_payload: str, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        decode_heart_rate_measurement(bytes.fromhex(hex_payload))


# --- Polar PMD ----------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_real_h10_control_point_and_ecg(fixtures: dict[str, Any]) -> None:
    h10 = fixtures["polar_h10_pmd_ecg_gatttool"]
    control = h10["control_point"]
    mtu = decode_control_point_response(
        bytes.fromhex(control["get_settings_ecg_response_before_mtu"]["hex"])
    )
    assert mtu.status_name == "INVALID_MTU"
    bad = decode_control_point_response(
        bytes.fromhex(control["start_ecg_request_without_params_response"]["hex"])
    )
    assert bad.status_name == "INVALID_PARAMETER"
    ok = decode_control_point_response(bytes.fromhex(control["start_ecg_response"]["hex"]))
    assert ok.status_name == "SUCCESS"
    settings_response = decode_control_point_response(
        bytes.fromhex(control["get_settings_ecg_response"]["hex"])
    )
    assert decode_settings(settings_response.parameters) == {0: (130,), 1: (14,)}
    for notification in h10["ecg_data_notifications_fb005c82"]:
        frame = decode_pmd_data(bytes.fromhex(notification["hex"]))
        expected = notification["decoded_here"]
        assert isinstance(frame, PmdEcgFrame)
        assert frame.timestamp_ns == expected["timestamp_ns_u64le"]
        assert frame.samples_uv.tolist() == expected["samples_uV"]


@pytest.mark.shared_data
def test_polar_sdk_acc_frames(fixtures: dict[str, Any]) -> None:
    acc = fixtures["polar_pmd_acc_polar_sdk_tests"]
    raw = acc["raw_frame_type1"]
    frame = decode_pmd_data(bytes.fromhex(raw["header_hex"] + raw["content_hex"]))
    assert isinstance(frame, PmdAccFrame)
    expected = raw["expected_by_source"]
    assert frame.samples_mg.shape == (expected["n_samples"], 3)
    assert frame.samples_mg[0].tolist() == expected["sample0_xyz"]
    assert frame.samples_mg[1].tolist() == expected["sample1_xyz"]
    compressed = acc["compressed_frame_type0"]
    payload = bytes.fromhex(compressed["header_hex"] + compressed["content_hex"])
    with pytest.raises(DecodeError, match="factor"):
        decode_pmd_data(payload)
    frame = decode_pmd_data(payload, acc_factor=compressed["factor"])
    expected = compressed["expected_by_source"]
    assert isinstance(frame, PmdAccFrame)
    assert len(frame.samples_mg) == expected["n_samples"]
    factor = compressed["factor"]
    assert frame.samples_mg[0].tolist() == [
        int(factor * v * 1000) for v in expected["reference_sample_raw"]
    ]
    assert frame.samples_mg[1].tolist() == [int(factor * v * 1000) for v in expected["sample1_raw"]]


@pytest.mark.shared_data
def test_real_h10_recording_frames() -> None:
    path = BLE / "polar_h10_ecg_ride_first20min.bin"
    if not path.exists():
        pytest.skip("../shared/data/ble is not beside this checkout")
    data = path.read_bytes()
    assert data[:24] == b"H10 ECG v1.0 binary data"
    offset, stamps = 24, list[int]()
    while offset < len(data) and len(stamps) < 200:
        (length,) = struct.unpack_from("<I", data, offset)
        frame = decode_pmd_data(data[offset + 4 : offset + 4 + length])
        assert isinstance(frame, PmdEcgFrame) and len(frame.samples_uv) == 73
        stamps.append(frame.timestamp_ns)
        offset += 4 + length
    steps_s = np.diff(stamps) / 1e9
    assert np.all(steps_s > 0)
    assert 73 / np.median(steps_s) == pytest.approx(130, rel=0.01)  # the H10's ECG rate


@settings(max_examples=200, deadline=None)
@given(
    stamp=st.integers(0, (1 << 64) - 1),
    ecg=st.lists(st.integers(-(1 << 23), (1 << 23) - 1), min_size=1, max_size=80),
    acc=st.lists(st.tuples(*[st.integers(-32768, 32767)] * 3), min_size=1, max_size=40),
)
def test_pmd_round_trips(stamp: int, ecg: list[int], acc: list[tuple[int, int, int]]) -> None:
    frame = decode_pmd_data(encode_pmd_ecg_frame(stamp, ecg))
    assert isinstance(frame, PmdEcgFrame)
    assert (frame.timestamp_ns, frame.samples_uv.tolist()) == (stamp, ecg)
    acc_frame = decode_pmd_data(encode_pmd_acc_frame(stamp, acc, frame_type=1))
    assert isinstance(acc_frame, PmdAccFrame)
    assert acc_frame.samples_mg.tolist() == [list(a) for a in acc]


# --- Fuzzing: malformed frames are DecodeErrors, never anything else ----------------------------

VALID = [
    encode_heart_rate_measurement(
        72, rr_intervals_1024=(800, 812), sensor_contact=True, energy_expended_kj=9
    ),
    encode_pmd_ecg_frame(123456789, list(range(-36, 37))),
    encode_pmd_acc_frame(987654321, [[1, -2, 1000]] * 12, frame_type=2),
    load_builtin("vagus-eda-v1").encode(np.arange(8).reshape(8, 1), 1234 * 1_000_000),
]


def _all_decoders(payload: bytes) -> None:
    eda = load_builtin("vagus-eda-v1")
    for decode in (
        decode_heart_rate_measurement,
        decode_pmd_data,
        decode_control_point_response,
        eda.decode,
    ):
        with contextlib.suppress(DecodeError):
            decode(payload)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_decode_error(payload: bytes) -> None:
    _all_decoders(payload)


@settings(max_examples=500, deadline=None)
@given(
    base=st.sampled_from(VALID),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 7)), max_size=6),
    cut=st.integers(0, 400),
    tail=st.binary(max_size=10),
)
def test_mutated_frames_never_raise_anything_but_decode_error(
    base: bytes, flips: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    mutated = bytearray(base)
    for position, bit in flips:
        if mutated:
            mutated[position % len(mutated)] ^= 1 << bit
    _all_decoders(bytes(mutated[: cut % (len(mutated) + 1)]) + tail)


# --- Declarative sample-stream profiles ---------------------------------------------------------

TOML = """
[profile]
name = "t"
signal = "eda"
[gatt]
service = "103d5e47-51cb-420a-8f8d-eb9c61364548"
characteristic = "e34c526b-0d76-4dd6-89f7-4a3dc759ea2d"
[frame]
byte_order = "{order}"
sample = {{ type = "{kind}", channels = 2 }}
[signal]
scale = 0.5
offset = 1.0
units = "uS"
rate_hz = 4.0
"""


@pytest.mark.parametrize("kind", ["i8", "u8", "i16", "u16", "i24", "u24", "i32", "u32", "f32"])
@pytest.mark.parametrize("order", ["little", "big"])
def test_sample_stream_round_trips_every_type(kind: str, order: str) -> None:
    profile = SampleStreamProfile.from_toml_text(TOML.format(kind=kind, order=order))
    low = -100 if kind[0] in "if" else 0
    raw = np.array([[low, 100], [7, 0], [low // 2, 99]])
    frame = profile.decode(profile.encode(raw, None))
    assert frame.device_time_ns is None
    assert frame.values.tolist() == (raw * 0.5 + 1.0).tolist()


def test_builtin_eda_profile_reads_its_timestamp() -> None:
    profile = load_builtin("vagus-eda-v1")
    assert profile.signal == "eda" and profile.rate_hz == 8.0 and profile.units == "uS"
    frame = profile.decode(profile.encode(np.full((8, 1), 3120), 42_000 * 1_000_000))
    assert frame.device_time_ns == 42_000 * 1_000_000
    assert frame.values[:, 0].tolist() == pytest.approx([3.12] * 8)
    assert profile.timestamp_period_ns() == (1 << 32) * 1_000_000


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (('type = "u16"', 'type = "u12"'), "frame.sample.type"),
        (("rate_hz = 8.0", "rate_hz = 0.0"), "rate_hz"),
        (('characteristic = "e34c', 'characteristic = "zz4c'), "gatt.characteristic"),
        (("channels = 1", "channels = 0"), "channels"),
        (('units = "uS"', ""), "signal.units"),
        (('unit = "ms"', 'unit = "fortnight"'), "timestamp.unit"),
    ],
)
def test_impossible_profiles_are_refused_naming_the_key(
    change: tuple[str, str], fragment: str
) -> None:
    text = (
        Path(__file__).resolve().parents[2] / "ingest" / "profiles" / "vagus-eda-v1.toml"
    ).read_text()
    assert change[0] in text
    with pytest.raises(ProfileError, match=fragment):
        SampleStreamProfile.from_toml_text(text.replace(change[0], change[1]))


def test_a_profile_names_its_site_from_the_body_sensor_locations() -> None:
    text = (
        Path(__file__).resolve().parents[2] / "ingest" / "profiles" / "vagus-eda-v1.toml"
    ).read_text()
    assert SampleStreamProfile.from_toml_text(text).site is None  # an EDA board may say none
    placed = text.replace('signal = "eda"', 'signal = "eda"\nsite = "finger"')
    assert SampleStreamProfile.from_toml_text(placed).site == "finger"
    with pytest.raises(ProfileError, match=r"profile\.site 'wirst'"):
        SampleStreamProfile.from_toml_text(
            text.replace('signal = "eda"', 'signal = "eda"\nsite = "wirst"')
        )


def test_builtin_motion_profile_gives_wrist_acc_in_milli_g() -> None:
    profile = load_builtin("vagus-motion-v1")
    assert (profile.signal, profile.site, profile.units, profile.rate_hz) == (
        "acc",
        "wrist",
        "mG",
        32.0,
    )
    raw = np.array([[-120, 240, 960]] * 32)
    device = SampleStreamDevice(profile)
    frame = profile.encode(raw, 5_000 * 1_000_000)
    [block] = device.decoder("d-wrist001").decode(
        Notification("d-wrist001", profile.characteristic, 10**18, frame)
    )
    assert block.stream == "acc" and block.site == "wrist" and block.values.shape == (32, 3)
    assert block.values[0].tolist() == [-120.0, 240.0, 960.0]


def test_an_h10s_motion_and_ecg_are_the_chests() -> None:
    decoder = PolarH10Device().decoder("d-strap0001")
    frames = [
        encode_pmd_acc_frame(10**15, np.array([[30, -985, 160]] * 25)),
        encode_pmd_ecg_frame(10**15, np.arange(73)),
    ]
    blocks = [
        block
        for frame in frames
        for block in decoder.decode(Notification("d-strap0001", PMD_DATA_UUID, 10**18, frame))
    ]
    assert [(b.stream, b.site) for b in blocks] == [("acc", "chest"), ("ecg", "chest")]


def test_unknown_builtin_profile() -> None:
    with pytest.raises(ProfileError, match="no built-in"):
        load_builtin("nope")
