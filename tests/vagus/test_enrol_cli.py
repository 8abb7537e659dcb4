"""`vagus enrol issue|list|revoke`: owner-only files, rotation, revocation, no secret printed;
and what a gateway without a key does and `vagus doctor` says about it."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from stream.enrolment import GatewayRegistry, read_gateway_key, read_registry
from stream.signing import GatewayKey, SignatureError, sign_event, verify
from stream.spool import Spool, SpoolSettings
from stream.spooling_producer import SpoolingProducer
from tests.conftest import isolated_settings
from tests.helpers import PATIENT, stream_gap
from vagus.cli import main
from vagus.gateway_key import key_status, signing_key

OTHER_PATIENT = "p-0000000000a1"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "vagus.toml"
    path.write_text(
        f'[enrolment]\nregistry_file = "{tmp_path}/worker/enrolment.json"\n\n'
        f'[live]\nstate_dir = "{tmp_path}/gateway"\npatient_id = "{PATIENT}"\n'
    )
    return path


def _vagus(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--config", str(config), "enrol", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_issue_rotate_list_and_revoke(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "worker" / "enrolment.json"
    key_file = tmp_path / "gateway" / "gateway-key.json"
    code, printed = _vagus(config, capsys, "issue", PATIENT)
    assert code == 0
    first = read_gateway_key(key_file)
    assert first is not None and first.patient_id == PATIENT
    assert first.key_id in printed and first.secret.hex() not in printed
    assert _mode(key_file) == _mode(registry) == 0o600

    elsewhere = tmp_path / "for-the-pi.json"
    code, printed = _vagus(config, capsys, "issue", OTHER_PATIENT, "--out", str(elsewhere))
    assert code == 0 and _mode(elsewhere) == 0o600
    theirs = read_gateway_key(elsewhere)
    assert theirs is not None and theirs.patient_id == OTHER_PATIENT
    assert read_gateway_key(key_file) == first  # --out leaves this machine's key alone

    code, printed = _vagus(config, capsys, "issue", PATIENT, "--json")  # rotation
    rotated = json.loads(printed)
    assert code == 0 and rotated["key_id"] != first.key_id and rotated["revoked"] is None
    second = read_gateway_key(key_file)
    assert second is not None and second.key_id == rotated["key_id"]

    secrets = [key.secret for key in read_registry(registry)]
    assert len(secrets) == 3
    for listing in ("list", "list --json"):
        code, printed = _vagus(config, capsys, *listing.split())
        assert code == 0
        assert all(secret not in printed for secret in secrets)
        assert all(k in printed for k in (first.key_id, theirs.key_id, second.key_id))
        assert PATIENT in printed and OTHER_PATIENT in printed
    rows = json.loads(printed)["keys"]
    assert [row["revoked"] for row in rows] == [None, None, None]

    worker = GatewayRegistry(registry)
    event = stream_gap(1, producer_id="gateway", patient_id=PATIENT)
    worker.verify(sign_event(event, first), PATIENT)  # both keys valid mid-rotation
    worker.verify(sign_event(event, second), PATIENT)
    code, printed = _vagus(config, capsys, "revoke", first.key_id)
    assert code == 0 and first.key_id in printed and first.secret.hex() not in printed
    with pytest.raises(SignatureError, match="revoked"):
        worker.verify(sign_event(event, first), PATIENT)
    worker.verify(sign_event(event, second), PATIENT)
    code, printed = _vagus(config, capsys, "list", "--json")
    revoked = {row["key_id"]: row["revoked"] for row in json.loads(printed)["keys"]}
    assert revoked[first.key_id] is not None and revoked[second.key_id] is None
    assert _mode(registry) == 0o600


def test_refusals_are_one_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed = _vagus(config, capsys, "revoke", "0123456789ab")
    assert code == 2 and "no key 0123456789ab" in printed
    with pytest.raises(SystemExit) as usage:
        main(["--config", str(config), "enrol", "issue", "alice"])
    assert usage.value.code == 2
    assert "pseudonym" in capsys.readouterr().err


async def test_a_gateway_without_a_key_spools_unsigned_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "gateway-key.json"
    with caplog.at_level(logging.WARNING):
        assert signing_key(key_file, PATIENT) is None
    assert caplog.text.count("gateway not enrolled") == 1
    assert key_status(key_file, PATIENT).problem is not None
    # Unsigned, the events are kept all the same: spooled for the broker, never dropped; with
    # a key, what is spooled is what the worker verifies.
    key = GatewayKey.generate(PATIENT)
    event = stream_gap(1, producer_id="g", patient_id=PATIENT)
    payloads = []
    for folder, key_or_none in (("unsigned", None), ("signed", key)):
        producer = SpoolingProducer(
            isolated_settings("127.0.0.1:1"),
            producer_id="g",
            spool=Spool(tmp_path / folder, SpoolSettings(fsync="never")),
            signing_key=key_or_none,
        )
        await producer.send(event)
        (spooled,) = producer.spool.peek(10)
        producer.spool.close()
        payloads.append(spooled.payload)
    unsigned, signed = payloads
    with pytest.raises(SignatureError, match="unsigned"):
        verify(unsigned, key)
    assert verify(signed, key) == unsigned
