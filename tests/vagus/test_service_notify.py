"""The gateway under systemd's notify protocol: READY once it serves, watchdog pings only while
its event loop runs and its health check passes, STOPPING on the way out.

A harness plays the service manager: a datagram socket named in NOTIFY_SOCKET whose receiving
thread stamps each message on arrival, so a stalled loop shows as a hole in the pings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream.broker import free_loopback_port
from tests.conftest import isolated_settings
from tests.helpers import config_with_topics
from tests.vagus.test_metrics import get, parse
from vagus.service_notify import ServiceNotifier, keep_watchdog

ROOT = Path(__file__).resolve().parents[2]


class NotifyHarness:
    """The service manager's end of NOTIFY_SOCKET: (arrival time, message) pairs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[tuple[float, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._running = True
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while self._running:
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def pings(self) -> list[float]:
        return [at for at, text in self.messages if "WATCHDOG=1" in text.split("\n")]

    def first(self, line: str) -> float | None:
        return next((at for at, text in self.messages if line in text.split("\n")), None)

    def wait_for(self, line: str, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (at := self.first(line)) is not None:
                return at
            time.sleep(0.05)
        raise AssertionError(f"no {line!r} within {timeout_s} s; got {self.messages}")

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[NotifyHarness]:
    notify = NotifyHarness(tmp_path / "notify.sock")
    try:
        yield notify
    finally:
        notify.close()


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = ServiceNotifier.from_environment({})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    assert notifier.notify("READY=1") is False


def test_the_watchdog_belongs_to_the_process_systemd_named() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}
    assert ServiceNotifier.from_environment(env).watchdog_s == 30.0
    other = env | {"WATCHDOG_PID": str(os.getpid() + 1)}
    assert ServiceNotifier.from_environment(other).watchdog_s is None
    assert ServiceNotifier.from_environment(env | {"WATCHDOG_USEC": "x"}).watchdog_s is None


def test_an_abstract_socket_is_reached(tmp_path: Path) -> None:
    name = f"vagus-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert ServiceNotifier("@" + name, None).notify("READY=1", "STATUS=up")
        assert sock.recv(100) == b"READY=1\nSTATUS=up"


async def test_a_stalled_event_loop_stops_the_pings(harness: NotifyHarness) -> None:
    notifier = ServiceNotifier(str(harness.path), watchdog_usec=300_000)  # a ping every 0.1 s
    task = asyncio.create_task(keep_watchdog(notifier, lambda: None))
    await asyncio.sleep(0.6)
    stalled_from = time.monotonic()
    time.sleep(1.2)  # noqa: ASYNC251 - the stall under test: the loop cannot run the pinger
    stalled_to = time.monotonic()
    await asyncio.sleep(0.6)
    task.cancel()
    pings = harness.pings()
    assert sum(at < stalled_from for at in pings) >= 3
    # a ping may still be on its way as the stall begins; none is sent inside it
    assert not [at for at in pings if stalled_from + 0.05 < at < stalled_to]
    assert sum(at > stalled_to for at in pings) >= 3


async def test_an_unhealthy_gateway_holds_the_pings_back_and_says_why(
    harness: NotifyHarness,
) -> None:
    notifier = ServiceNotifier(str(harness.path), watchdog_usec=300_000)
    reason: list[str | None] = [None]
    task = asyncio.create_task(keep_watchdog(notifier, lambda: reason[0]))
    await asyncio.sleep(0.5)
    reason[0] = "no BLE progress for 400 s (limit 260 s)"
    sick_from = time.monotonic()
    await asyncio.sleep(0.8)
    sick_to = time.monotonic()
    reason[0] = None
    await asyncio.sleep(0.5)
    task.cancel()
    pings = harness.pings()
    assert not [at for at in pings if sick_from + 0.15 < at < sick_to]
    assert sum(at > sick_to for at in pings) >= 2
    assert harness.first("STATUS=unhealthy: no BLE progress for 400 s (limit 260 s)") is not None
    assert harness.first("STATUS=running") is not None


@pytest.mark.slow
def test_the_gateway_process_is_ready_pings_stops_pinging_when_frozen_and_says_stopping(
    harness: NotifyHarness, tmp_path: Path
) -> None:
    """The real `vagus gateway` (virtual wearables, embedded broker) under the harness; a
    frozen process (SIGSTOP) sends nothing, and pings resume when it runs again."""
    config = tmp_path / "vagus.toml"
    config.write_text(f'[live]\nstate_dir = "{tmp_path / "state"}"\nbackend = "virtual"\n')
    env = os.environ | {
        "NOTIFY_SOCKET": str(harness.path),
        "WATCHDOG_USEC": "1500000",  # a ping every 0.5 s
    }
    gateway = subprocess.Popen(
        [sys.executable, "-m", "vagus", "--config", str(config), "gateway", "--seconds", "60"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        ready = harness.wait_for("READY=1", timeout_s=600)
        time.sleep(2.0)
        assert len([at for at in harness.pings() if at > ready]) >= 2
        gateway.send_signal(signal.SIGSTOP)
        frozen_from = time.monotonic()
        time.sleep(2.0)
        frozen_to = time.monotonic()
        gateway.send_signal(signal.SIGCONT)
        time.sleep(1.5)
        assert not [at for at in harness.pings() if frozen_from + 0.1 < at < frozen_to]
        assert [at for at in harness.pings() if at > frozen_to]
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(timeout=60) == 128 + signal.SIGTERM  # ended by the signal, cleanly
        harness.wait_for("STOPPING=1", timeout_s=5)
    finally:
        if gateway.poll() is None:
            gateway.send_signal(signal.SIGCONT)
            gateway.kill()
            gateway.wait()


@pytest.mark.slow
@pytest.mark.broker
async def test_the_worker_is_ready_once_assigned_pings_and_says_stopping(
    harness: NotifyHarness, kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = await config_with_topics(isolated_settings(kafka_bootstrap), tmp_path)
    env = os.environ | {"NOTIFY_SOCKET": str(harness.path), "WATCHDOG_USEC": "1500000"}
    port = free_loopback_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "vagus", "--config", str(config), "closedloop",
         "--metrics-port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        ready = await asyncio.to_thread(harness.wait_for, "READY=1", 120)
        await asyncio.sleep(2.0)
        assert len([at for at in harness.pings() if at > ready]) >= 2
        scraped = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics")
        metrics = parse(scraped.decode())
        assert metrics["vagus_worker_ready"] == [("", 1.0)]
        assert metrics["vagus_worker_failed_deliveries_total"] == [("", 0.0)]
        lag = dict(metrics["vagus_worker_consumer_lag_records"])
        assert {'{topic="stress"}', '{topic="policy"}'} <= lag.keys()
        assert set(lag.values()) == {0.0}  # nothing written, nothing waiting
        [(_, age)] = metrics["vagus_worker_state_snapshot_age_seconds"]
        assert 0.0 <= age < 60.0
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)
        await asyncio.to_thread(harness.wait_for, "STOPPING=1", 5)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
