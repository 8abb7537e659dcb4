"""The console's enrolment registry on both engines, its CLI, and `vagus policy set`'s check."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from closedloop.policy import PolicyError
from console import create_schema, open_database
from console.accounts import audit_log, set_disabled
from console.registry import (
    NotEnrolledError,
    RegistryError,
    enrol,
    enrolled,
    enrolment,
    require_enrolled,
    unenrol,
)
from stream.settings import KafkaSettings
from tests.console.events import PATIENT
from tests.console.server import add_people
from tests.helpers import config_with_topics, run_vagus
from vagus.cli import main
from vagus.config import VagusConfig
from vagus.config_console import ConsoleSettings

OTHER = "p-abcdefghjkmn"
ROOT = Path(__file__).resolve().parents[2]


def test_enrol_list_unenrol(database: str) -> None:
    with open_database(database) as db:
        create_schema(db)
        first, added = enrol(db, PATIENT, "clinician:c-17", 1_000)
        assert added and first.enrolled_by == "clinician:c-17" and first.enrolled_ns == 1_000
        again, added_again = enrol(db, PATIENT, "clinician:c-99", 2_000)
        assert not added_again and again == first  # the first enrolment is kept
        enrol(db, OTHER, "admin", 3_000)
        assert [e.patient_id for e in enrolled(db)] == sorted([PATIENT, OTHER])
        assert require_enrolled(db, PATIENT) == first
        assert unenrol(db, PATIENT)
        assert not unenrol(db, PATIENT)
        assert enrolment(db, PATIENT) is None
        with pytest.raises(NotEnrolledError, match=f"vagus console enrol {PATIENT} --db"):
            require_enrolled(db, PATIENT)


@pytest.mark.parametrize(
    ("patient", "actor", "says"),
    [
        ("p-BAD", "c-1", "is not a pseudonym"),
        ("p-0123456789ai", "c-1", "is not a pseudonym"),  # i is not in the alphabet
        (PATIENT, "two words", "must be a plain name"),
        (PATIENT, "", "must be a plain name"),
        (PATIENT, "c-1\nforged", "must be a plain name"),
    ],
)
def test_enrol_refuses_what_is_not_a_pseudonym_or_a_plain_name(
    tmp_path: Path, patient: str, actor: str, says: str
) -> None:
    with open_database(str(tmp_path / "c.db")) as db:
        create_schema(db)
        with pytest.raises(RegistryError, match=says):
            enrol(db, patient, actor, 1)
        assert enrolled(db) == []


def test_the_cli_enrols_lists_and_unenrols_as_an_audited_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = str(tmp_path / "c.db")
    add_people(database)
    assert main(["console", "enrol", PATIENT, "--db", database, "--actor", "clinician"]) == 0
    assert f"{PATIENT}: enrolled by clinician at 20" in capsys.readouterr().out
    assert main(["console", "enrolled", "--db", database]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["patient"] == PATIENT and row["enrolled_by"] == "clinician"
    assert row["at"].endswith("Z")
    assert main(["console", "enrol", "p-nope", "--db", database, "--actor", "admin"]) == 2
    assert "is not a pseudonym" in capsys.readouterr().err
    assert main(["console", "unenrol", PATIENT, "--db", database, "--actor", "admin"]) == 0
    assert capsys.readouterr().out == f"{PATIENT}: unenrolled\n"
    assert main(["console", "enrolled", "--db", database]) == 0
    assert json.loads(capsys.readouterr().out) == []
    with open_database(database) as db:
        trail = [(a, x, s) for _, a, x, s in audit_log(db, actions=("enrol", "unenrol"))]
    assert trail == [("admin", "unenrol", PATIENT), ("clinician", "enrol", PATIENT)]


@pytest.mark.parametrize("actor", ["clinician:c-17", "stranger-gone", "nobody"])
def test_the_cli_refuses_an_actor_that_is_not_an_enabled_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], actor: str
) -> None:
    """Free text was accepted until the nineteenth session: an audit trail of names nobody
    can sign in as says nothing about who did it."""
    database = str(tmp_path / "c.db")
    add_people(database)
    with open_database(database) as db:
        set_disabled(db, "stranger", True, actor="test", now_ns=1)
    if actor == "stranger-gone":
        actor = "stranger"  # an account, but disabled
    for command in ("enrol", "unenrol"):
        assert main(["console", command, PATIENT, "--db", database, "--actor", actor]) == 2
        assert "is not an enabled console account" in capsys.readouterr().err
    with open_database(database) as db:
        assert enrolled(db) == [] and not audit_log(db, actions=("enrol", "unenrol"))


def test_policy_set_refuses_a_patient_the_configured_console_does_not_hold(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before any broker is asked: the bootstrap below answers nothing."""
    config = VagusConfig(
        kafka=KafkaSettings(bootstrap="127.0.0.1:9"), console=ConsoleSettings(database=database)
    )
    path = tmp_path / "config.json"
    path.write_bytes(msgspec.json.encode(config))
    command = ["--config", str(path), "policy", "set", PATIENT, "cooldown_s=3600"]
    status = main([*command, "--actor", "clinician:c-1", "--reason", "test"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{PATIENT} is not enrolled in the console's registry" in err
    assert f"vagus console enrol {PATIENT} --db" in err
    assert err.count("\n") == 1


def test_not_enrolled_is_a_policy_error() -> None:
    """The CLI reports a PolicyError in one line with exit 2; the refusal must be one."""
    assert issubclass(NotEnrolledError, PolicyError)


@pytest.mark.broker
async def test_policy_set_publishes_once_the_patient_is_enrolled(
    kafka: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI subprocess, as a clinician runs it, against the broker and a console database."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    database = str(tmp_path / "console.db")
    written = await config_with_topics(kafka, tmp_path)
    config = msgspec.json.decode(written.read_bytes(), type=VagusConfig)
    with_console = msgspec.structs.replace(config, console=ConsoleSettings(database=database))
    written.write_bytes(msgspec.json.encode(with_console))
    change = [
        "--config",
        str(written),
        "policy",
        "set",
        PATIENT,
        "cooldown_s=3600",
        "--actor",
        "clinician:c-1",
        "--reason",
        "test",
    ]
    refused = run_vagus(*change)
    assert refused.returncode == 2
    assert "is not enrolled in the console's registry" in refused.stderr
    add_people(database)
    enrolled_now = run_vagus("console", "enrol", PATIENT, "--db", database, "--actor", "admin")
    assert enrolled_now.returncode == 0, enrolled_now.stderr
    published = run_vagus(*change)
    assert published.returncode == 0, published.stderr
    assert f"{PATIENT}: policy v1 published" in published.stdout
