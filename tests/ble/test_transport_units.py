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

import pytest
from bleak.backends.scanner import AdvertisementData
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.devices.registry import match_advertisement
from ingest.errors import DecodeError, IngestError
from ingest.profiles.heart_rate import HEART_RATE_SERVICE_UUID
from ingest.profiles.polar_pmd import PMD_SERVICE_UUID
from ingest.profiles.polar_time import decode_set_local_time, encode_set_local_time
from ingest.transport.backoff import Backoff
from ingest.transport.gaps import GapTracker
from ingest.transport.identity import (
    device_id_for,
    install_address_redaction,
    load_or_create_secret,
    redact_addresses,
)
from ingest.transport.manager import CLOCK_STEP_TOLERANCE_NS, MonotonicStamp
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


def test_redaction_hides_bluez_object_paths_and_advertised_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What bleak's BlueZ backend logs at DEBUG: D-Bus signals with object paths and property
    dumps that name every device heard (names carry serials)."""
    install_address_redaction()
    body = [
        "/org/bluez/hci0/dev_F0_00_00_00_00_04",
        "{'Name': <dbus_fast.signature.Variant ('s', Polar H10 A1B2C3D4)>, "
        "'Alias': <dbus_fast.signature.Variant ('s', Strap (4711))>, "
        "'RSSI': <dbus_fast.signature.Variant ('n', -60)>}",
    ]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("bleak.backends.bluezdbus.manager").debug(
            "received D-Bus signal: %s.%s (%s): %s", "org.bluez", "X", "/", body
        )
    assert "F0_00" not in caplog.text and "A1B2C3D4" not in caplog.text
    assert "4711" not in caplog.text
    assert "dev_<address>" in caplog.text and caplog.text.count("<name>") == 2
    assert "('n', -60)" in caplog.text  # other properties stay readable


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
    assert _profile("Polar Sense 1", HEART_RATE_SERVICE_UUID) == "polar-optical"  # PPI over PMD
    assert _profile("Polar OH1 1", HEART_RATE_SERVICE_UUID) == "polar-optical"
    eda = _profile(None, "103d5e47-51cb-420a-8f8d-eb9c61364548")
    assert eda == "sample-stream:vagus-eda-v1"
    assert _profile("Kettle", "0000180f-0000-1000-8000-00805f9b34fb") is None


def test_arrival_stamps_never_go_back_when_the_wall_clock_does() -> None:
    readings = iter([100, 200, 150, 150, 300])
    stamp = MonotonicStamp(lambda: next(readings))
    assert [stamp() for _ in range(5)] == [100, 200, 201, 202, 300]


def test_gap_tracker_reports_a_lost_link_once_data_flows_again() -> None:
    tracker = GapTracker("d-00000000")
    assert tracker.observe(1_000) == [], "no loss, nothing to report"
    tracker.disconnected(at_ns=7_000)
    tracker.disconnected(at_ns=8_000)  # the first loss counts
    (lost,) = tracker.observe(12_000)
    assert (lost.device_id, lost.stream, lost.reason) == ("d-00000000", "link", "disconnected")
    assert (lost.start_ns, lost.end_ns) == (7_000, 12_000)
    assert tracker.observe(13_000) == []
    tracker.disconnected(at_ns=14_000)
    (closed,) = tracker.close_open_gap(at_ns=20_000)
    assert (closed.stream, closed.start_ns, closed.end_ns) == ("link", 14_000, 20_000)
    assert tracker.close_open_gap(at_ns=21_000) == []


@given(events=st.lists(st.tuples(st.booleans(), st.integers(0, 10**6)), max_size=40))
def test_gap_tracker_gaps_are_ordered_spans(events: list[tuple[bool, int]]) -> None:
    tracker = GapTracker("d-00000000")
    at = 0
    for down, step in events:
        at += step
        if down:
            tracker.disconnected(at)
        else:
            assert all(g.start_ns < g.end_ns == at for g in tracker.observe(at))


def test_after_the_wall_clock_steps_back_stamps_keep_the_monotonic_pace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An hour back: the stamps go on at the monotonic clock's pace, an hour ahead of the wall
    clock, said once; the wall clock's step forward again uses the lead up, nothing jumps."""
    s, hour = 10**9, 3600 * 10**9
    walls = iter([0, 1 * s, 2 * s - hour, 3 * s - hour, 4 * s, 5 * s + 7 * s])
    monotonic = iter([0, 1 * s, 2 * s, 3 * s, 4 * s, 5 * s])
    stamp = MonotonicStamp(lambda: next(walls), lambda: next(monotonic))
    with caplog.at_level(logging.INFO, logger="ingest.transport.manager"):
        stamps = [stamp() for _ in range(4)]
        assert stamps == [0, 1 * s, 2 * s, 3 * s] and stamp.lead_ns == hour
        assert stamp() == 4 * s and stamp.lead_ns == 0  # the step forward ends the lead
        assert stamp() == 12 * s  # a forward step without a lead is followed (a gap)
    backs = [r for r in caplog.records if "stepped back" in r.getMessage()]
    assert len(backs) == 1 and "3600.000 s" in backs[0].getMessage()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(10**13), 10**13), min_size=1, max_size=40))
def test_stamps_never_go_back_and_never_fall_behind_the_wall_clock(steps: list[int]) -> None:
    """Whatever the wall clock does around a steady monotonic one (1 s a reading): stamps rise,
    are never behind the wall clock, sit exactly lead_ns ahead of it after a step back, and keep
    the monotonic pace across every step back."""
    wall_now, mono_now = [10**18], [0]
    stamp = MonotonicStamp(lambda: wall_now[0], lambda: mono_now[0])
    last = stamp()
    for step in steps:
        mono_now[0] += 10**9
        wall_now[0] += 10**9 + step
        now = stamp()
        assert now > last and now >= wall_now[0]
        assert stamp.lead_ns >= 0
        if step < -CLOCK_STEP_TOLERANCE_NS:
            assert now - last == 10**9 and now == wall_now[0] + stamp.lead_ns
        last = now
