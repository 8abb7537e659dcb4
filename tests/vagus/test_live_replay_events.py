"""Live and replay send the same events for the same recording.

A session of virtual wearables (over the real bleak client) with a dropped strap link goes
through the live path (the transport's items straight into a RecordDriver, as Gateway.handle
does) while `vagus record`'s writer records the same items; the recording is then replayed
through a fresh driver. Both event lists must match, ids and production times aside: the
``stream_gap`` events of the lost link included, which a replay used to leave out.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dsp.streaming import LINK
from ingest.recording import (
    DeviceRecord,
    Marker,
    NotificationRecord,
    RecordingHeader,
    RecordingWriter,
)
from ingest.replay import open_recording
from ingest.transport.targets import BleBackend, DeviceTarget
from stream.events import Event, StreamGap
from vagus.config import LiveSettings, VagusConfig
from vagus.dry_run import dry_run
from vagus.live import VIRTUAL_PATIENT_ID, make_transport, run_for
from vagus.record_driver import Record, RecordDriver

pytest.importorskip("bumble", reason="the virtual backend needs the optional bumble dependency")

_IDS = {"event_id", "produced_at_ns", "window_id", "episode_id", "trigger_window_id"}


def _driver(tmp_path: Path, config: VagusConfig) -> RecordDriver:
    return RecordDriver.build(
        devices={},  # devices join with their DeviceRecords, live and replayed
        config=config,
        patient_id=VIRTUAL_PATIENT_ID,
        producer_id="gateway-test",
        state_dir=tmp_path,
    )


def _through(driver: RecordDriver, record: Record) -> list[Event]:
    closed = driver.handle(record)
    return [*driver.take_notices(), *(e for c in closed for e in (c.window, *c.events))]


def _comparable(events: list[Event]) -> list[dict[str, Any]]:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _IDS}
        return value

    return [strip(msgspec.to_builtins(e)) for e in events]


async def test_a_replayed_live_session_sends_the_live_events(tmp_path: Path) -> None:
    from ingest.virtual.world import VIRTUAL_DEVICES, virtual_wearables

    config = VagusConfig(live=LiveSettings(state_dir=str(tmp_path / "state"), reconnect_cap_s=1.0))
    live = _driver(tmp_path / "live", config)
    live_events: list[Event] = []
    path = tmp_path / "session.vrec"
    header = RecordingHeader(
        patient_id=VIRTUAL_PATIENT_ID,
        start_time_ns=time.time_ns(),
        devices=[],
        producer="vagus record",
        simulated=True,
    )
    async with virtual_wearables() as world:
        ble = BleBackend(world.radio.scanner_backend(), world.radio.client_backend())
        targets = [DeviceTarget(p, name_prefix=n, label=lbl) for p, n, lbl in VIRTUAL_DEVICES]
        with RecordingWriter(path, header) as writer:

            async def sink(item: NotificationRecord | Marker | DeviceRecord) -> None:
                live_events.extend(_through(live, item))  # the live gateway's path
                if isinstance(item, NotificationRecord):  # and vagus record's
                    writer.write_notification(item.to_notification())
                elif isinstance(item, Marker):
                    writer.write_marker(item.gateway_time_ns, item.label, item.detail)
                else:
                    writer.add_device(item.device)

            transport = make_transport(config, targets=targets, backend=ble, sink=sink)
            async with transport:
                async with asyncio.timeout(30):
                    while world.strap.connection_count < 1 or world.h10.frames_sent == []:
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(2.5)
                    await world.strap.drop_connection()
                    while world.strap.connection_count < 2:
                        await asyncio.sleep(0.05)
                    await run_for(transport, 2.5)
    live_events += [e for c in live.finish() for e in (c.window, *c.events)]
    live_events += live.take_notices()  # gaps found after the last window

    replay = _driver(tmp_path / "replay", config)
    replayed: list[Event] = []
    for record in open_recording(path):
        replayed += _through(replay, record)
    replayed += [e for c in replay.finish() for e in (c.window, *c.events)]
    replayed += replay.take_notices()

    gaps = [e for e in live_events if isinstance(e, StreamGap)]
    assert {(g.stream, g.reason) for g in gaps} >= {("hr", "disconnected"), ("rr", "disconnected")}
    assert _comparable(replayed) == _comparable(live_events)
    # and a dry run of the file counts the gaps the live gateway reported, per device and stream
    report = dry_run(path)
    counted = {(s["device_id"], s["stream"]): s["gaps"] for s in report["streams"] if s["gaps"]}
    assert counted == dict(Counter((g.device_id, g.stream) for g in gaps if g.stream != LINK))
    linkless = Counter(g.device_id for g in gaps if g.stream == LINK)
    assert report["links_lost_before_data"] == dict(linkless)
