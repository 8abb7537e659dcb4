"""The live gateway sends ``gateway_health`` to Kafka: virtual wearables over the real bleak
client -> Gateway -> the quality topic, at each connection and every ``health_interval_s``,
with pseudonymous device ids and the strap's battery (the virtual strap's is 71 %)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ingest.transport.targets import BleBackend, DeviceTarget
from stream.codec import encode_event
from stream.events import GatewayHealth
from stream.settings import KafkaSettings
from tests.helpers import read_events
from vagus.config import LiveSettings, VagusConfig
from vagus.demo import create_topics
from vagus.live import VIRTUAL_PATIENT_ID, gateway_over

pytest.importorskip("bumble", reason="the virtual backend needs the optional bumble dependency")


@pytest.mark.broker
async def test_the_live_gateway_reports_batteries_and_its_backlog(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    from ingest.virtual.world import VIRTUAL_DEVICES, virtual_wearables

    live = LiveSettings(state_dir=str(tmp_path), reconnect_cap_s=1.0, health_interval_s=5.0)
    config = VagusConfig(kafka=kafka, live=live)
    await create_topics(kafka)
    async with virtual_wearables() as world:
        wearables = (world.strap, world.h10, world.eda, world.wrist)
        on_air = [p.address for p in wearables] + [p.name for p in wearables]
        ble = BleBackend(world.radio.scanner_backend(), world.radio.client_backend())
        targets = [DeviceTarget(p, name_prefix=n, label=lbl) for p, n, lbl in VIRTUAL_DEVICES]
        summary = await gateway_over(
            config, ble=ble, targets=targets, patient=VIRTUAL_PATIENT_ID, seconds=7.0
        )

    devices = {d["profile"]: d for d in summary["devices"]}
    assert all(d["connections"] >= 1 for d in devices.values())
    events = await read_events(kafka, kafka.topics.name("quality"), 3)
    deadline = asyncio.get_running_loop().time() + 20
    assert summary["health_reports_sent"] >= 2
    while len([e for e in events if isinstance(e, GatewayHealth)]) < summary["health_reports_sent"]:
        assert asyncio.get_running_loop().time() < deadline, events
        events = await read_events(kafka, kafka.topics.name("quality"), len(events) + 1)
    health = [e for e in events if isinstance(e, GatewayHealth)]
    assert len(health) == summary["health_reports_sent"]
    assert all(h.patient_id == VIRTUAL_PATIENT_ID for h in health)
    # the first when the devices connected, then (at least) the periodic one 5 s later
    assert health[0].devices
    assert health[-1].gateway_time_ns - health[0].gateway_time_ns >= 4.5e9
    last = health[-1]
    by_id = {d.device_id: d for d in last.devices}
    assert set(by_id) == {d["device_id"] for d in devices.values()}
    assert by_id[devices["heart-rate"]["device_id"]].battery_percent == 71
    assert last.spool_events >= 0 and last.broker_refusal is None
    wire = b"".join(encode_event(h) for h in health).decode()
    for secret in on_air:
        assert secret not in wire
