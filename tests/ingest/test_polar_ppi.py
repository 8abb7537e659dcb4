"""PPI from Polar optical sensors (Verity Sense, OH1): the PMD frame codec and the device kind.

No recorded PPI bytes exist in ../shared/data/ble, so one frame is written out by hand from the
layout in the Polar SDK's ``PpiData`` parser (6 bytes a sample: u8 bpm, u16 LE interval ms, u16
LE error ms, u8 flags), so the codec is not only checked against its own encoder.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.decoding import DeviceDecoder
from ingest.devices import (
    Advertisement,
    Recognition,
    SampleBlock,
    StartupError,
    device_kind,
    match_advertisement,
)
from ingest.devices.polar_h10 import PolarH10Device
from ingest.devices.polar_optical import PolarOpticalDecoder, PolarOpticalDevice
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, HEART_RATE_SERVICE_UUID
from ingest.profiles.pmd_control import MeasurementType, encode_start_measurement
from ingest.profiles.polar_pmd import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    PmdPpiFrame,
    decode_pmd_data,
    encode_pmd_ecg_frame,
    encode_pmd_ppi_frame,
)
from ingest.profiles.polar_time import PSFTP_MTU_UUID
from tests.pmd_link import FakeLink

DEVICE = "d-0123abcd"
ARRIVAL_NS = 1_765_000_000_000_000_000

# Header: type 3 (PPI), u64 timestamp 0 (what the optical sensors send), frame type 0.
HEADER = bytes.fromhex("03000000000000000000")
KNOWN_SAMPLES = bytes.fromhex(
    "48 2003 0a00 06"  # 72 bpm, 800 ms, error 10 ms, skin contact (supported)
    "49 3903 1f00 07"  # 73 bpm, 825 ms, error 31 ms, blocker, skin contact (supported)
    "00 b004 0001 04"  # 0 bpm, 1200 ms, error 256 ms, contact supported but absent
    "4a ee02 0500 00"  # 74 bpm, 750 ms, error 5 ms, contact detection not supported
)
KNOWN = HEADER + KNOWN_SAMPLES


def _ppi(
    payload: bytes, arrival_ns: int = ARRIVAL_NS, characteristic: str = PMD_DATA_UUID
) -> Notification:
    return Notification(DEVICE, characteristic, arrival_ns, payload)


# --- Codec ----------------------------------------------------------------------------------


def test_a_hand_built_frame_decodes_field_by_field() -> None:
    frame = decode_pmd_data(KNOWN)
    assert isinstance(frame, PmdPpiFrame)
    assert (frame.timestamp_ns, frame.frame_type) == (0, 0)
    assert frame.hr_bpm.tolist() == [72, 73, 0, 74]
    assert frame.interval_ms.tolist() == [800, 825, 1200, 750]
    assert frame.error_ms.tolist() == [10, 31, 256, 5]
    assert frame.blocker.tolist() == [False, True, False, False]
    assert frame.skin_contact.tolist() == [True, True, False, False]
    assert frame.skin_contact_supported.tolist() == [True, True, True, False]


def test_the_encoder_writes_the_hand_built_frame() -> None:
    payload = encode_pmd_ppi_frame(
        [800, 825, 1200, 750],
        hr_bpm=[72, 73, 0, 74],
        error_ms=[10, 31, 256, 5],
        blocker=[False, True, False, False],
        skin_contact=[True, True, False, False],
        skin_contact_supported=[True, True, True, False],
    )
    assert payload == KNOWN


def test_decoded_arrays_are_read_only() -> None:
    frame = decode_pmd_data(KNOWN)
    assert isinstance(frame, PmdPpiFrame)
    for array in (
        frame.hr_bpm,
        frame.interval_ms,
        frame.error_ms,
        frame.blocker,
        frame.skin_contact,
        frame.skin_contact_supported,
    ):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1


def test_an_empty_frame_has_no_intervals() -> None:
    frame = decode_pmd_data(HEADER)
    assert isinstance(frame, PmdPpiFrame)
    assert frame.interval_ms.size == 0


@settings(max_examples=200, deadline=None)
@given(
    samples=st.lists(
        st.tuples(
            st.integers(0, 0xFFFF),
            st.integers(0, 0xFF),
            st.integers(0, 0xFFFF),
            st.booleans(),
            st.booleans(),
            st.booleans(),
        ),
        max_size=40,
    ),
    stamp=st.integers(0, (1 << 64) - 1),
)
def test_ppi_frames_round_trip(
    samples: list[tuple[int, int, int, bool, bool, bool]], stamp: int
) -> None:
    columns = list(zip(*samples, strict=True)) if samples else [()] * 6
    interval, hr, error, blocker, contact, supported = (list(c) for c in columns)
    payload = encode_pmd_ppi_frame(
        interval,
        hr_bpm=hr,
        error_ms=error,
        blocker=blocker,
        skin_contact=contact,
        skin_contact_supported=supported,
        timestamp_ns=stamp,
    )
    assert len(payload) == 10 + 6 * len(samples)
    frame = decode_pmd_data(payload)
    assert isinstance(frame, PmdPpiFrame)
    assert frame.timestamp_ns == stamp
    assert frame.interval_ms.tolist() == interval
    assert frame.hr_bpm.tolist() == hr
    assert frame.error_ms.tolist() == error
    assert frame.blocker.tolist() == blocker
    assert frame.skin_contact.tolist() == contact
    assert frame.skin_contact_supported.tolist() == supported


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (KNOWN[:-1], r"PPI frame type 0: sample data is 23 bytes, expected a multiple of 6"),
        (KNOWN + b"\x00", r"PPI frame type 0: sample data is 25 bytes, expected a multiple of 6"),
        (HEADER[:9] + b"\x01" + KNOWN_SAMPLES, r"PPI frame type 0x01 \(1\) is not supported"),
        (HEADER[:9] + b"\x80" + KNOWN_SAMPLES, r"PPI frame type 0x80 \(128\) is not supported"),
        (HEADER[:7], r"header needs 10 bytes, got 7"),
    ],
)
def test_malformed_ppi_frames_are_refused(payload: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_pmd_data(payload)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"intervals_ms": [70000]}, "intervals_ms"),
        ({"intervals_ms": [800], "hr_bpm": 256}, "hr_bpm"),
        ({"intervals_ms": [800], "error_ms": -1}, "error_ms"),
        ({"intervals_ms": [800], "hr_bpm": [60, 61]}, "match intervals_ms"),
        ({"intervals_ms": [800, 801], "blocker": [True, False, True]}, "match intervals_ms"),
        ({"intervals_ms": [[800]]}, "1-D"),
    ],
)
def test_the_encoder_refuses_what_does_not_fit(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_pmd_ppi_frame(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    flips=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 7)), max_size=6),
    cut=st.integers(0, 60),
    tail=st.binary(max_size=10),
)
def test_mutated_ppi_frames_raise_only_decode_errors(
    flips: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    mutated = bytearray(KNOWN)
    for position, bit in flips:
        mutated[position % len(mutated)] ^= 1 << bit
    decoder = PolarOpticalDecoder(DEVICE)
    with contextlib.suppress(DecodeError):
        decoder.decode(_ppi(bytes(mutated[: cut % (len(mutated) + 1)]) + tail))


# --- Decoder: streams, refusals, beat times --------------------------------------------------


def _streams(blocks: list[SampleBlock]) -> dict[str, tuple[list[int], list[float]]]:
    return {b.stream: (b.times_ns.tolist(), b.values.tolist()) for b in blocks}


def test_refused_samples_are_counted_not_emitted_but_keep_their_time() -> None:
    decoder = PolarOpticalDecoder(DEVICE)
    blocks = decoder.decode(_ppi(KNOWN))
    streams = _streams(blocks)
    # Beats end at the arrival and step back by every interval, the refused ones included.
    beats = [ARRIVAL_NS - ms * 1_000_000 for ms in (2775, 1950, 750, 0)]
    assert streams["ppi"] == ([beats[0], beats[3]], [800.0, 750.0])
    assert decoder.refused_samples == 2
    # hr: not where contact is absent (third) and not 0 bpm; the blocker alone does not hide it.
    assert streams["hr"] == ([beats[0], beats[1], beats[3]], [72.0, 73.0, 74.0])
    ppi = next(b for b in blocks if b.stream == "ppi")
    assert (ppi.unit, ppi.rate_hz, ppi.device_id) == ("ms", None, DEVICE)
    hr = next(b for b in blocks if b.stream == "hr")
    assert (hr.unit, hr.rate_hz) == ("bpm", None)


def test_refusals_add_up_across_frames_and_are_logged_without_the_device(
    caplog: pytest.LogCaptureFixture,
) -> None:
    decoder = PolarOpticalDecoder(DEVICE)
    caplog.set_level(logging.DEBUG, logger="ingest.devices.polar_optical")
    decoder.decode(_ppi(KNOWN))
    decoder.decode(_ppi(encode_pmd_ppi_frame([900, 910], blocker=True), ARRIVAL_NS + 2 * 10**9))
    assert decoder.refused_samples == 4
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "PPI: 2 of 4 intervals refused (blocker 1, no skin contact 1)",
        "PPI: 2 of 2 intervals refused (blocker 2, no skin contact 0)",
    ]
    assert all(DEVICE not in m for m in messages)


def test_a_frame_of_refused_samples_only_gives_no_ppi_block() -> None:
    decoder = PolarOpticalDecoder(DEVICE)
    blocks = decoder.decode(_ppi(encode_pmd_ppi_frame([900], hr_bpm=66, skin_contact=False)))
    assert blocks == []
    assert decoder.refused_samples == 1


def test_beat_times_increase_across_frames_and_never_pass_their_arrival() -> None:
    decoder = DeviceDecoder(DEVICE, "polar-optical")
    rng = np.random.default_rng(3)
    arrival = ARRIVAL_NS
    times: list[int] = []
    values: list[float] = []
    sent: list[int] = []
    for _ in range(50):
        intervals = rng.integers(700, 1100, size=int(rng.integers(1, 4))).tolist()
        sent += intervals
        arrival += sum(intervals) * 1_000_000 + int(rng.integers(0, 80)) * 1_000_000
        blocks = decoder.decode(_ppi(encode_pmd_ppi_frame(intervals, hr_bpm=70), arrival))
        ppi = next(b for b in blocks if b.stream == "ppi")
        assert ppi.times_ns[-1] <= arrival
        times += ppi.times_ns.tolist()
        values += ppi.values.tolist()
    assert values == [float(v) for v in sent], "the sensor's intervals, untouched"
    assert np.all(np.diff(times) > 0)
    assert decoder.clock_corrections == 0


def test_the_first_frame_ends_at_its_arrival() -> None:
    blocks = PolarOpticalDecoder(DEVICE).decode(_ppi(encode_pmd_ppi_frame([800, 1000])))
    ppi = _streams(blocks)["ppi"]
    assert ppi[0] == [ARRIVAL_NS - 1_000_000_000, ARRIVAL_NS]


@pytest.mark.parametrize(
    ("notification", "message"),
    [
        (_ppi(encode_pmd_ecg_frame(5, [1, 2, 3])), "streams PPI only, got a PmdEcgFrame"),
        (_ppi(KNOWN, characteristic=HEART_RATE_MEASUREMENT_UUID), "has no characteristic"),
    ],
)
def test_anything_but_ppi_on_pmd_data_is_refused(notification: Notification, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        PolarOpticalDecoder(DEVICE).decode(notification)


# --- Device kind: recognition and start-up ----------------------------------------------------


def _kind_of(name: str, *uuids: str) -> str | None:
    kind = match_advertisement(Advertisement(frozenset(uuids), name))
    return None if kind is None else kind.name


def test_the_registry_knows_the_optical_kind() -> None:
    kind = device_kind("polar-optical")
    assert isinstance(kind, PolarOpticalDevice)
    assert kind.gatt.data == (PMD_DATA_UUID,)
    assert set(kind.gatt.data).isdisjoint(kind.gatt.control)
    assert kind.recognises(Advertisement(frozenset(kind.gatt.services[:1]))) > Recognition.NO


@pytest.mark.parametrize(
    ("name", "uuids", "kind"),
    [
        ("Polar Sense 1A2B3C4D", (HEART_RATE_SERVICE_UUID,), "polar-optical"),
        ("Polar Sense 1A2B3C4D", (HEART_RATE_SERVICE_UUID, PMD_SERVICE_UUID), "polar-optical"),
        ("Polar OH1 1A2B3C4D", (PMD_SERVICE_UUID,), "polar-optical"),
        ("Polar H10 1A2B3C4D", (HEART_RATE_SERVICE_UUID, PMD_SERVICE_UUID), "polar-h10"),
        ("", (PMD_SERVICE_UUID,), "polar-h10"),  # no name: the H10 keeps its old claim
        ("Polar H9 1A2B3C4D", (HEART_RATE_SERVICE_UUID, PMD_SERVICE_UUID), "heart-rate"),
        # Another Polar model serving PMD: the optical kind's generic claim, never the H10's.
        ("Polar Ignite 3 1A2B3C4D", (PMD_SERVICE_UUID,), "polar-optical"),
    ],
)
def test_optical_sensors_are_told_from_the_h10(
    name: str, uuids: tuple[str, ...], kind: str
) -> None:
    assert _kind_of(name, *uuids) == kind


def test_the_optical_and_h10_kinds_never_tie_on_a_named_sensor() -> None:
    both = frozenset({PMD_SERVICE_UUID, HEART_RATE_SERVICE_UUID})
    sense = Advertisement(both, "Polar Sense 1A2B3C4D")
    h10 = Advertisement(both, "Polar H10 1A2B3C4D")
    assert PolarOpticalDevice().recognises(sense) is Recognition.SPECIFIC
    assert PolarH10Device().recognises(sense) is Recognition.NO
    assert PolarOpticalDevice().recognises(h10) is Recognition.GENERIC
    assert PolarH10Device().recognises(h10) is Recognition.SPECIFIC
    assert PolarOpticalDevice().recognises(Advertisement(frozenset())) is Recognition.NO


async def test_the_start_up_sets_the_clock_then_starts_ppi_without_settings() -> None:
    link = FakeLink()
    await PolarOpticalDevice().start(link, ARRIVAL_NS)
    assert [uuid for uuid, _ in link.writes] == [PSFTP_MTU_UUID, PMD_CONTROL_POINT_UUID]
    start = link.writes[-1][1]
    assert start == encode_start_measurement(MeasurementType.PPI, {}) == b"\x02\x03"


async def test_the_start_up_without_ps_ftp_only_starts_ppi() -> None:
    link = FakeLink(psftp=False)
    await PolarOpticalDevice().start(link, ARRIVAL_NS)
    assert link.writes == [(PMD_CONTROL_POINT_UUID, b"\x02\x03")]


async def test_a_refused_ppi_start_raises() -> None:
    with pytest.raises(StartupError, match="start PPI: the sensor answered NOT_SUPPORTED"):
        await PolarOpticalDevice().start(FakeLink(status=3), ARRIVAL_NS)


def test_a_stray_ppi_frame_on_an_h10_is_refused_before_it_can_move_the_ecg_clock() -> None:
    """A PPI frame is stamped 0 (year 2000). On an H10 it is a bad frame: refused, and the ECG
    frames after it keep their times, as if it had never come."""
    from ingest.devices.polar_h10 import PolarH10Decoder
    from ingest.profiles.polar_pmd import encode_pmd_ecg_frame

    def ecg_times(decoder: PolarH10Decoder, stray: bool) -> list[int]:
        times = []
        for k in range(6):
            arrival = ARRIVAL_NS + k * 10**9
            if stray and k == 0:
                with pytest.raises(DecodeError, match="streams ECG and ACC"):
                    decoder.decode(_ppi(encode_pmd_ppi_frame([900]), arrival - 10**8))
            stamp = 800_000_000_000_000_000 + k * 10**9
            payload = encode_pmd_ecg_frame(stamp, np.arange(130))
            (block,) = decoder.decode(_ppi(payload, arrival))
            times.append(int(block.times_ns[-1]))
        return times

    assert ecg_times(PolarH10Decoder(DEVICE), True) == ecg_times(PolarH10Decoder(DEVICE), False)


def test_the_gateway_reports_per_device_how_many_values_a_device_refused() -> None:
    """What the decoder leaves out is not lost without a trace: the decoder set the gateway
    and replays use reports it per device (the gateway's refused_samples_total metric)."""
    from ingest.decoder_set import DecoderSet
    from ingest.recording import NotificationRecord

    decoders = DecoderSet({DEVICE: "polar-optical", "d-strap001": "heart-rate"})
    assert decoders.refused_samples() == {DEVICE: 0, "d-strap001": 0}
    for k, blocker in enumerate((False, True, True)):
        payload = encode_pmd_ppi_frame([900, 910], blocker=blocker)
        decoders.decode(
            NotificationRecord(DEVICE, PMD_DATA_UUID, ARRIVAL_NS + k * 10**9, None, payload)
        )
    assert decoders.refused_samples() == {DEVICE: 4, "d-strap001": 0}
