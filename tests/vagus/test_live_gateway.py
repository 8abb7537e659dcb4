"""The live gateway end to end: virtual wearables over the real bleak client -> Gateway ->
Kafka, with a link drop that must arrive as a ``stream_gap`` event on the quality topic."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec
import pytest

from ingest.transport.targets import BleBackend, DeviceTarget
from stream.events import StreamGap
from stream.settings import KafkaSettings
from tests.helpers import read_events, run_vagus
from vagus.config import LiveSettings, VagusConfig
from vagus.demo import create_topics
from vagus.live import VIRTUAL_PATIENT_ID, gateway_over

pytest.importorskip("bumble", reason="the virtual backend needs the optional bumble dependency")


@pytest.mark.broker
async def test_a_dropped_link_reaches_kafka_as_a_stream_gap(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    from ingest.virtual.world import HR_NAME, VIRTUAL_DEVICES, virtual_wearables

    config = VagusConfig(
        kafka=kafka, live=LiveSettings(state_dir=str(tmp_path), reconnect_cap_s=1.0)
    )
    await create_topics(kafka)
    stop = asyncio.Event()
    async with virtual_wearables() as world:
        ble = BleBackend(world.radio.scanner_backend(), world.radio.client_backend())
        targets = [DeviceTarget(p, name_prefix=n, label=lbl) for p, n, lbl in VIRTUAL_DEVICES]
        run = asyncio.create_task(
            gateway_over(
                config,
                ble=ble,
                targets=targets,
                patient=VIRTUAL_PATIENT_ID,
                seconds=None,
                stop=stop,
            )
        )
        async with asyncio.timeout(30):
            while world.strap.connection_count < 1 or world.h10.frames_sent == []:
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.5)  # a few beats and ECG frames
            await world.strap.drop_connection()
            while world.strap.connection_count < 2:
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.5)  # beats again after the reconnection
        stop.set()
        summary = await run

    assert summary["decode_errors"] == 0
    strap = next(d for d in summary["devices"] if d["profile"] == "heart-rate")
    assert strap["connections"] == 2
    assert summary["stream_gaps_sent"] >= 2  # hr and rr of the strap
    events = await read_events(kafka, kafka.topics.name("quality"), summary["stream_gaps_sent"])
    gaps = [e for e in events if isinstance(e, StreamGap)]
    assert {(g.device_id, g.stream, g.reason) for g in gaps} >= {
        (strap["device_id"], "hr", "disconnected"),
        (strap["device_id"], "rr", "disconnected"),
    }
    assert all(g.gap_start_ns < g.gap_end_ns == g.gateway_time_ns for g in gaps)
    wire = b"".join(msgspec.json.encode(g) for g in gaps).decode()
    assert HR_NAME not in wire


# With no Kafka configured the command starts the embedded broker (the development path); the
# live gateway against a configured Kafka runs on both brokers in the test above.
@pytest.mark.broker
def test_the_gateway_command_runs_live_and_stops_on_time(tmp_path: Path) -> None:
    config = tmp_path / "vagus.toml"
    config.write_text(f'[live]\nstate_dir = "{tmp_path / "state"}"\n')
    done = run_vagus("--config", str(config), "gateway", "--seconds", "6", "--json",
                     "--backend", "virtual")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["decode_errors"] == 0
    assert summary["notifications"] > 0
    assert {d["profile"] for d in summary["devices"] if d["notifications"]} == {
        "heart-rate",
        "polar-h10",
        "sample-stream:vagus-eda-v1",
        "sample-stream:vagus-motion-v1",
    }
    assert (tmp_path / "state" / "device-id.key").exists()
