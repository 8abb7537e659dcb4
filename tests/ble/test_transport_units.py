"""Transport pieces that need no radio: backoff, pseudonymous ids, redaction, the PS-FTP clock
query, profile matching and arrival stamps."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from bleak.backends.scanner import AdvertisementData
from hypothesis import given
from hypothesis import strategies as st

from ingest.devices.registry import match_advertisement
from ingest.errors import DecodeError, IngestError
from ingest.notification import Notification
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, HEART_RATE_SERVICE_UUID
from ingest.profiles.polar_pmd import PMD_DATA_UUID, PMD_SERVICE_UUID
from ingest.profiles.polar_time import decode_set_local_time, encode_set_local_time
from ingest.profiles.sample_stream import load_builtin
from ingest.transport.backoff import Backoff
from ingest.transport.gaps import GapTracker
from ingest.transport.identity import (
    device_id_for,
    install_address_redaction,
    load_or_create_secret,
    redact_addresses,
)
from ingest.transport.manager import MonotonicStamp
from ingest.transport.scanner import advertisement_of
from stream.ids import DEVICE_ID_PATTERN


def test_backoff_doubles_with_jitter_up_to_the_cap_and_never_gives_up() -> None:
    backoff = Backoff(base_s=1.0, factor=2.0, cap_s=30.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(1000)]
    nominal = [min(30.0, 2.0**n) for n in range(1000)]
    assert all(n / 2 <= d <= n for d, n in zip(delays, nominal, strict=True))
    assert delays[:5] != [n for n in nominal[:5]], "jittered, not the bare schedule"
    assert max(delays) <= 30.0
    assert min(delays[10:]) >= 15.0, "at the cap, a retry still waits at least half of it"
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_two_gateways_do_not_retry_in_lockstep() -> None:
    first = Backoff(rng=random.Random(1))
    second = Backoff(rng=random.Random(2))
    assert [first.next_delay() for _ in range(5)] != [second.next_delay() for _ in range(5)]


@pytest.mark.parametrize(("base", "factor", "cap"), [(0, 2, 10), (5, 2, 1), (1, 0.5, 10)])
def test_impossible_backoff_is_refused(base: float, factor: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base_s=base, factor=factor, cap_s=cap)


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    state = tmp_path / "state"
    secret = load_or_create_secret(state)
    key = state / "device-id.key"
    assert len(secret) == 32
    assert key.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(state) == secret
    os.chmod(key, 0o644)
    with pytest.raises(IngestError, match="chmod 600"):
        load_or_create_secret(state)
    key.write_bytes(b"short")
    os.chmod(key, 0o600)
    with pytest.raises(IngestError, match="damaged"):
        load_or_create_secret(state)


@given(st.binary(min_size=6, max_size=6))
def test_device_ids_are_keyed_stable_and_name_proof(octets: bytes) -> None:
    address = ":".join(f"{b:02X}" for b in octets)
    one, other = bytes(32), bytes([1]) * 32
    device_id = device_id_for(address, one)
    assert re.fullmatch(DEVICE_ID_PATTERN, device_id)
    assert device_id == device_id_for(address.lower().replace(":", "-"), one)
    assert device_id != device_id_for(address, other)
    assert address not in device_id


def test_redaction_hides_addresses_in_every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    install_address_redaction()
    install_address_redaction()  # idempotent
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("bleak_retry_connector").debug(
            "%s - %s: Connecting", "d-1", "A0:9E:1A:00:11:22"
        )
        try:
            raise OSError("device A0-9E-1A-00-11-22 not found")
        except OSError:
            logging.getLogger("ingest").exception("failed")
    assert "A0:9E" not in caplog.text and "A0-9E" not in caplog.text
    assert caplog.text.count("<address>") >= 2  # message, exception (and traceback source)
    assert redact_addresses("uuid fb005c80-02e7-f387-1cad-8acd2d8df0c8") == (
        "uuid fb005c80-02e7-f387-1cad-8acd2d8df0c8"
    ), "UUIDs are not addresses"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_set_local_time_round_trips(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC)
    frame = encode_set_local_time(moment)
    assert frame[:3] == bytes([0x02, 0x03, 0x80])  # RFC76 last frame, query 3 with bit 15
    assert decode_set_local_time(frame).moment == moment


@given(st.binary(max_size=40))
def test_a_malformed_clock_query_is_a_decode_error(frame: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_set_local_time(frame)


def _adv(name: str | None, *uuids: str) -> AdvertisementData:
    return AdvertisementData(name, {}, {}, list(uuids), None, -60, ())


def _profile(name: str | None, *uuids: str) -> str | None:
    profile = match_advertisement(advertisement_of(_adv(name, *uuids)))
    return None if profile is None else profile.name


def test_profiles_are_matched_most_specific_first() -> None:
    assert _profile("Polar H10 1A2B3C4D", HEART_RATE_SERVICE_UUID) == "polar-h10"
    assert _profile("Polar H9 1A2B3C4D", HEART_RATE_SERVICE_UUID) == "heart-rate"
    assert _profile(None, PMD_SERVICE_UUID) == "polar-h10"
    assert _profile("Polar Sense 1", HEART_RATE_SERVICE_UUID) == "heart-rate"
    eda = _profile(None, "103d5e47-51cb-420a-8f8d-eb9c61364548")
    assert eda == "sample-stream:vagus-eda-v1"
    assert _profile("Kettle", "0000180f-0000-1000-8000-00805f9b34fb") is None


def test_arrival_stamps_never_go_back_when_the_wall_clock_does() -> None:
    readings = iter([100, 200, 150, 150, 300])
    stamp = MonotonicStamp(lambda: next(readings))
    assert [stamp() for _ in range(5)] == [100, 200, 201, 202, 300]


def _eda_frame(device_s: float, offset_ns: int = 50_000_000) -> Notification:
    profile = load_builtin("vagus-eda-v1")
    device_ns = int(device_s * 1e9)
    payload = profile.encode(np.full((8, 1), 2000), device_time_ns=device_ns)
    arrival = device_ns + 7 * 125_000_000 + offset_ns  # after the frame's last sample
    return Notification("d-00000000", profile.characteristic, arrival, payload)


def test_gap_tracker_marks_jumps_and_lost_links_per_stream() -> None:
    tracker = GapTracker("d-00000000", "sample-stream:vagus-eda-v1")
    assert [tracker.observe(_eda_frame(s)) for s in (0, 1, 2)] == [[], [], []]
    assert tracker.observe(_eda_frame(3, offset_ns=400_000_000)) == [], "a late frame is no gap"
    (jump,) = tracker.observe(_eda_frame(6))
    assert (jump.reason, jump.stream) == ("sample_time_jump", "eda")
    offset = 50_000_000  # the smallest arrival delay, which the aligner keeps
    assert (jump.start_ns, jump.end_ns) == (3_875_000_000 + offset, 6_000_000_000 + offset)
    tracker.disconnected(at_ns=7_000_000_000)
    tracker.disconnected(at_ns=8_000_000_000)  # the first loss counts
    (lost,) = tracker.observe(_eda_frame(12))
    assert (lost.reason, lost.start_ns) == ("disconnected", jump.end_ns + 875_000_000)
    assert lost.end_ns == 12_000_000_000 + offset
    tracker.disconnected(at_ns=14_000_000_000)
    (closed,) = tracker.close_open_gap(at_ns=20_000_000_000)
    assert (closed.stream, closed.end_ns, closed.reason) == ("eda", 20_000_000_000, "disconnected")
    assert tracker.close_open_gap(at_ns=21_000_000_000) == []


def test_a_link_lost_before_any_data_is_one_link_gap() -> None:
    tracker = GapTracker("d-00000000", "heart-rate")
    tracker.disconnected(at_ns=5)
    assert [(g.stream, g.start_ns, g.end_ns) for g in tracker.close_open_gap(9)] == [("link", 5, 9)]


EDA_UUID = load_builtin("vagus-eda-v1").characteristic


@pytest.mark.parametrize("profile", ["polar-h10", "heart-rate", "sample-stream:vagus-eda-v1"])
@given(payloads=st.lists(st.binary(max_size=240), max_size=20))
def test_gap_tracker_takes_any_bytes(profile: str, payloads: list[bytes]) -> None:
    tracker = GapTracker("d-00000000", profile)
    for i, payload in enumerate(payloads):
        for uuid in (HEART_RATE_MEASUREMENT_UUID, PMD_DATA_UUID, EDA_UUID):
            gaps = tracker.observe(Notification("d-00000000", uuid, i * 10**9, payload))
            assert all(g.end_ns >= g.start_ns for g in gaps)
    assert tracker.decode_errors <= 3 * len(payloads)
