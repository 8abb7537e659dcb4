"""The patient's controls end in an ``aborted`` outcome that says who stopped the session, and
"not now" keeps the device silent for the cooldown, on the gateway and in the closed loop.

Paths covered here: `vagus session stop|not-now` through the gateway's control socket (the real
command line in a subprocess), and the demo's terminal keys through a real pseudo-terminal. The
GPIO button and the band's button are tested with their devices (tests/hardware).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import msgspec
import pytest

from hardware.clock import WallClock
from hardware.control import PatientControl, PatientRequest
from hardware.devices import SimulatedDevice
from stream.events import InterventionOutcome
from stream.events import PatientControl as PatientControlEvent
from stream.settings import KafkaSettings
from tests.hardware.test_interlock import command
from tests.helpers import PATIENT, read_events, run_vagus
from vagus.config import DeviceLimitSettings, LiveSettings, VagusConfig
from vagus.demo import create_topics
from vagus.demo_console import patient_keys
from vagus.gateway import Gateway

pytestmark = pytest.mark.broker


def _gateway(kafka: KafkaSettings, state_dir: Path) -> Gateway:
    config = VagusConfig(
        kafka=kafka,
        device_limits=DeviceLimitSettings(quiet_hours_start=None, quiet_hours_end=None),
    )
    return Gateway(
        kafka=kafka,
        config=config,
        patient_id=PATIENT,
        devices={},
        clock=WallClock(),
        output_device=SimulatedDevice(),
        lockstep=False,
        interlock_state=state_dir / "interlock.json",
        state_dir=state_dir,
    )


def _config_file(tmp_path: Path, state_dir: Path) -> Path:
    path = tmp_path / "patient.json"
    path.write_bytes(msgspec.json.encode(VagusConfig(live=LiveSettings(state_dir=str(state_dir)))))
    return path


async def _wait_for(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("action", ["stop", "not-now"])
async def test_session_command_stops_the_running_session(
    kafka: KafkaSettings, tmp_path: Path, action: str
) -> None:
    await create_topics(kafka)
    state_dir = tmp_path / "state"
    gateway = _gateway(kafka, state_dir)
    await gateway.start()
    try:
        await gateway.runner.handle(command(time.time_ns(), duration_s=600))
        assert gateway.runner.busy
        config = _config_file(tmp_path, state_dir)
        result = await asyncio.to_thread(run_vagus, "--config", str(config), "session", action)
        assert result.returncode == 0, result.stderr
        await _wait_for(lambda: not gateway.runner.busy)
        statuses = [o.status for o in gateway.stats.outcomes]
        assert statuses == ["requested", "started", "aborted"]
        assert gateway.stats.outcomes[-1].detail == "aborted by patient:cli"
        sent = gateway.stats.patient_controls
        assert [(e.action, e.source) for e in sent] == [(action.replace("-", "_"), "cli")]
        assert sent[0].command_id == gateway.stats.outcomes[-1].command_id
        # "Not now" also silences the device's own interlock for the cooldown.
        later = command(time.time_ns())
        refusal = gateway.runner.interlock.refusal(later, time.time_ns())
        if action == "not-now":
            assert refusal == "the patient said not now"
            assert sent[0].quiet_until_ns is not None
        else:
            assert refusal != "the patient said not now"
    finally:
        await gateway.stop()
    # The events went to the outcomes topic, where the closed loop reads them.
    outcomes = await read_events(kafka, kafka.topics.name("outcomes"), wanted=4)
    assert all(isinstance(e, InterventionOutcome | PatientControlEvent) for e in outcomes)
    assert any(isinstance(e, PatientControlEvent) for e in outcomes)


def test_session_command_without_a_gateway_says_so(tmp_path: Path) -> None:
    config = _config_file(tmp_path, tmp_path / "nobody-home")
    result = run_vagus("--config", str(config), "session", "stop")
    assert result.returncode == 1
    assert "no gateway is running" in result.stderr
    assert "Traceback" not in result.stderr


async def test_terminal_keys_reach_the_patient_control() -> None:
    handled: list[PatientRequest] = []

    async def handler(request: PatientRequest) -> None:
        handled.append(request)

    control = PatientControl(handler)
    control.bind()
    main, secondary = os.openpty()
    with os.fdopen(secondary, "r") as terminal, patient_keys(control, terminal) as reading:
        assert reading
        os.write(main, b"xsn")  # an unknown key, then stop, then not now
        await _wait_for(lambda: len(handled) == 2)
    os.close(main)
    assert [(r.action, r.source) for r in handled] == [
        ("stop", "terminal"),
        ("not_now", "terminal"),
    ]


async def test_the_terminal_stop_key_aborts_the_gateway_session(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    await create_topics(kafka)
    gateway = _gateway(kafka, tmp_path / "state")
    await gateway.start()
    main, secondary = os.openpty()
    try:
        with os.fdopen(secondary, "r") as terminal, patient_keys(gateway.control, terminal):
            await gateway.runner.handle(command(time.time_ns(), duration_s=600))
            os.write(main, b"s")
            await _wait_for(lambda: not gateway.runner.busy)
    finally:
        os.close(main)
        await gateway.stop()
    assert [o.status for o in gateway.stats.outcomes][-1] == "aborted"
    assert gateway.stats.outcomes[-1].detail == "aborted by patient:terminal"


def test_a_control_from_another_thread_needs_a_running_gateway() -> None:
    async def handler(request: PatientRequest) -> None:
        raise AssertionError("never called")

    control = PatientControl(handler)
    assert not control.submit(PatientRequest(action="stop", source="gpio-button"))
    with pytest.raises(ValueError, match="short lowercase label"):
        PatientRequest(action="stop", source="AA:BB:CC:DD:EE:FF")
