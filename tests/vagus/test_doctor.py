"""`vagus doctor`: broker up and down, spool and last-event figures, nothing identifying."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from stream.broker import free_loopback_port
from stream.enrolment import write_gateway_key
from stream.settings import KafkaSettings
from stream.signing import GatewayKey
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from tests.conftest import isolated_settings
from tests.helpers import PATIENT, stream_gap
from vagus.cli import main
from vagus.commands.doctor import check_adapter
from vagus.demo import create_topics
from vagus.state_paths import DEFAULT_STATE_DIR, StatePaths

ADDRESS = "C0:FF:EE:12:34:56"
LABEL = "Alice Example's strap"
HAS_ADAPTER = bool(check_adapter()["adapters"])


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default state directory, under a private HOME."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return Path(DEFAULT_STATE_DIR).expanduser()


def _config(tmp_path: Path, bootstrap: str) -> Path:
    path = tmp_path / "vagus.toml"
    path.write_text(
        f'[kafka]\nbootstrap = "{bootstrap}"\n\n'
        f'[[devices]]\nprofile = "heart-rate"\naddress = "{ADDRESS}"\nlabel = "{LABEL}"\n'
    )
    return path


async def _run_gateway_producer(settings: KafkaSettings, state_dir: Path, events: int) -> None:
    """What the gateway does: send through the spool, leave a status file."""
    paths = StatePaths.under(state_dir)
    producer = SpoolingProducer(
        settings,
        producer_id="doctor-test",
        spool=Spool(paths.spool_dir, SpoolSettings(fsync="never")),
        status_path=paths.status_file,
        request_timeout_ms=500,
        retry_interval_s=0.1,
    )
    await producer.start()
    for second in range(events):
        await producer.send(stream_gap(second, producer_id="doctor-test"))
    await producer.flush()
    await producer.stop(drain_timeout_s=0.2)


def _doctor(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code = main(["--config", str(config), "doctor", "--json", "--timeout", "2"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.out + captured.err


@pytest.mark.broker
def test_broker_up_after_the_gateway_delivered(
    kafka_bootstrap: str, tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = isolated_settings(kafka_bootstrap)
    asyncio.run(create_topics(settings))
    asyncio.run(_run_gateway_producer(settings, state_dir, 3))
    key = GatewayKey.generate(PATIENT)
    write_gateway_key(StatePaths.under(state_dir).key_file, key, issued_at_ns=1)
    code, report, text = _doctor(_config(tmp_path, kafka_bootstrap), capsys)
    assert report["enrolment"] == {"enrolled": True, "key_id": key.key_id, "problem": None}
    assert key.secret.hex() not in text
    assert report["broker"] == {**report["broker"], "configured": True, "reachable": True}
    assert report["spool"] == {**report["spool"], "events": 0, "bytes": 0}
    assert report["gateway"]["last_event_sent"] is not None
    assert report["devices"] == [{"index": 1, "profile": "heart-rate", "matched_by": "address"}]
    assert ADDRESS not in text and "Alice" not in text and kafka_bootstrap not in text
    problems = [] if HAS_ADAPTER else ["no Bluetooth adapter found"]
    assert report["problems"] == problems
    assert code == (0 if HAS_ADAPTER else 1)


def test_broker_down_with_events_spooled(
    tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = f"127.0.0.1:{free_loopback_port()}"  # nothing listens there
    asyncio.run(_run_gateway_producer(isolated_settings(bootstrap), state_dir, 4))
    code, report, text = _doctor(_config(tmp_path, bootstrap), capsys)
    assert code == 1
    assert report["broker"] == {**report["broker"], "configured": True, "reachable": False}
    assert report["spool"]["events"] == 4 and report["spool"]["oldest"]
    assert report["gateway"]["last_event_sent"] is None
    assert report["gateway"]["gateway_saw_broker"] is False
    assert report["gateway"]["gateway_broker_refusal"] is None
    assert "broker unreachable" in report["problems"]
    assert not any("refuses" in p for p in report["problems"])
    assert ADDRESS not in text and "Alice" not in text and bootstrap not in text
    # Never enrolled: the loop would ignore this gateway, and staff are told so.
    assert report["enrolment"]["enrolled"] is False
    assert any(p.startswith("gateway not enrolled") for p in report["problems"])
    assert main(["--config", str(_config(tmp_path, bootstrap)), "doctor", "--timeout", "1"]) == 1
    assert "enrolled:  NO" in capsys.readouterr().out


def test_a_gateway_refused_by_the_brokers_acls_is_told_apart_from_an_outage(
    tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gateway's status names a refusal (tests/stream/test_kafka_security.py makes one on a
    real secured Kafka); doctor reads it and says what to check."""
    bootstrap = f"127.0.0.1:{free_loopback_port()}"
    asyncio.run(_run_gateway_producer(isolated_settings(bootstrap), state_dir, 1))
    status_file = StatePaths.under(state_dir).status_file
    status = json.loads(status_file.read_text())
    status_file.write_text(json.dumps(status | {"broker_refusal": "TopicAuthorizationFailedError"}))
    code, report, _ = _doctor(_config(tmp_path, bootstrap), capsys)
    assert code == 1
    assert report["gateway"]["gateway_broker_refusal"] == "TopicAuthorizationFailedError"
    assert (
        "the broker refuses the gateway's writes (TopicAuthorizationFailedError): check its ACLs"
        " and credentials (docs/security.md)" in report["problems"]
    )


def test_nothing_configured_is_reported_not_crashed(
    tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 1
    text = capsys.readouterr().out
    assert "no Kafka bootstrap configured" in text and "no gateway status yet" in text


def test_adapter_count_reads_sysfs(tmp_path: Path) -> None:
    (tmp_path / "hci0").mkdir()
    assert check_adapter(tmp_path)["adapters"] == 1
    assert check_adapter(tmp_path / "absent")["adapters"] == 0
