"""Prometheus metrics: the text format, the loopback server, and the real gateway serving its
counters while it streams from the virtual wearables."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stream.broker import free_loopback_port
from vagus.metrics import Metric, MetricsServer, render

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def parse(text: str) -> dict[str, list[tuple[str, float]]]:
    """Samples by metric name: (label text, value); fails on a line that is not the format."""
    found: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not an exposition line: {line!r}"
        found.setdefault(match[1], []).append((match[2] or "", float(match[3])))
    return found


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http on loopback
        body: bytes = response.read()
    return body


def test_the_text_format() -> None:
    text = render([
        Metric.one("a_total", "counter", "things", 3),
        Metric("b", "gauge", 'with "quotes"', [({"device": 'd-1"x', "profile": "hr"}, 0.5)]),
        Metric.one("c", "gauge", "unknown yet", None),
    ])  # fmt: skip
    assert "# TYPE a_total counter\na_total 3\n" in text
    assert 'b{device="d-1\\"x",profile="hr"} 0.5' in text
    assert "# TYPE c gauge\n" in text and "\nc " not in text
    assert parse(text)["a_total"] == [("", 3.0)]


async def test_the_server_answers_metrics_and_nothing_else() -> None:
    server = MetricsServer(lambda: [Metric.one("up", "gauge", "up", 1)])
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        body = await asyncio.to_thread(get, url + "/metrics")
        assert parse(body.decode()) == {"up": [("", 1.0)]}
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(get, url + "/")
        assert refused.value.code == 404
        refused.value.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x00garbage\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 404")
        writer.close()
    finally:
        await server.stop()


@pytest.mark.slow
def test_the_gateway_serves_its_counters_while_it_streams(tmp_path: Path) -> None:
    port = free_loopback_port()
    config = tmp_path / "vagus.toml"
    config.write_text(
        f'[live]\nstate_dir = "{tmp_path / "state"}"\nbackend = "virtual"\nmetrics_port = {port}\n'
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "vagus", "--config", str(config), "gateway", "--seconds", "40"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        metrics: dict[str, list[tuple[str, float]]] = {}
        while time.monotonic() < deadline and gateway.poll() is None:
            try:
                metrics = parse(get(f"http://127.0.0.1:{port}/metrics").decode())
            except OSError:
                metrics = {}
            connected = metrics.get("vagus_gateway_device_connected", [])
            streaming = len(connected) == 4 and all(v == 1.0 for _, v in connected)
            if streaming and metrics["vagus_gateway_notifications_total"][0][1] > 20:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"no streaming gateway in its metrics: {metrics}")
        connected = metrics["vagus_gateway_device_connected"]
        assert all(re.search(r'device="d-[0-9a-z]{8}"', labels) for labels, _ in connected)
        assert metrics["vagus_gateway_spool_events"][0][1] >= 0
        assert metrics["vagus_gateway_event_loop_lag_seconds"][0][1] >= 0
        assert metrics["vagus_gateway_ble_stall_seconds"][0][1] < 60
        # the virtual devices send no value they mark invalid; each device has its counter
        refused = metrics["vagus_gateway_refused_samples_total"]
        assert len(refused) == 4 and all(v == 0.0 for _, v in refused)
        assert all(re.search(r'device="d-[0-9a-z]{8}"', labels) for labels, _ in refused)
    finally:
        gateway.terminate()
        gateway.wait(timeout=60)
