"""`vagus export fhir`: a FHIR R4 Bundle that a FHIR library validates, pseudonyms only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
from fhir.resources.R4B.bundle import Bundle

from console import create_schema, open_database
from console.store import Record, store_batch
from console.svg import utc
from tests.console.events import PATIENT, T0, S, encoded, story
from vagus.cli import main

# fhir.resources has no R4 (4.0.1) models in its current releases; R4B (4.3) changed nothing in
# the Bundle and Observation elements this export writes, so its models validate it.


@pytest.fixture
def filled(database: str) -> str:
    with open_database(database) as db:
        create_schema(db)
        store_batch(db, "t.all", 0, [Record(i, p) for i, p in enumerate(encoded(story()))])
    return database


def _export(database: str, out: Path, *extra: str) -> dict[str, Any]:
    assert main(["export", "fhir", *extra, "--db", database, "-o", str(out)]) == 0
    bundle: dict[str, Any] = json.loads(out.read_text())
    return bundle


def _by_code(bundle: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle["entry"]
        if any(c["code"] == code for c in e["resource"]["code"]["coding"])
    ]


def test_the_bundle_validates_and_names_the_patient_by_pseudonym(
    filled: str, tmp_path: Path
) -> None:
    bundle = _export(filled, tmp_path / "b.json", PATIENT)
    Bundle.model_validate(bundle)
    heart = _by_code(bundle, "8867-4")
    assert len(heart) == 40
    assert heart[0]["code"]["coding"][0]["system"] == "http://loinc.org"
    assert heart[0]["valueQuantity"] == {
        "value": 60.0,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert heart[0]["effectiveDateTime"] == utc(T0)
    assert len(_by_code(bundle, "rmssd")) == 40
    assert len(_by_code(bundle, "stress-probability")) == 40
    (session,) = _by_code(bundle, "calming-session")
    assert [c["valueString"] for c in session["component"]] == ["paced_breathing", "completed"]
    subjects = {e["resource"]["subject"]["reference"] for e in bundle["entry"]}
    assert subjects == {f"Patient/{PATIENT}"}


@pytest.mark.parametrize(
    ("key", "value"), [("effectiveDateTime", "yesterday"), ("valueQuantity", {"value": "high"})]
)
def test_the_validator_refuses_a_broken_observation(
    filled: str, tmp_path: Path, key: str, value: object
) -> None:
    # fhir.resources checks structure and types (not value-set bindings such as `status`)
    bundle = _export(filled, tmp_path / "b.json")
    bundle["entry"][0]["resource"][key] = value
    with pytest.raises(pydantic.ValidationError):
        Bundle.model_validate(bundle)


def test_exports_are_stable_and_the_range_applies(filled: str, tmp_path: Path) -> None:
    first = _export(filled, tmp_path / "1.json")
    again = _export(filled, tmp_path / "2.json")
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in again["entry"]]
    since, until = utc(T0 + 100 * S), utc(T0 + 195 * S)
    ranged = _export(filled, tmp_path / "3.json", "--since", since, "--until", until)
    assert len(_by_code(ranged, "8867-4")) == 10  # windows 10-19
    assert not _by_code(ranged, "calming-session")  # it started at window 20


@pytest.mark.parametrize(
    ("patient", "says"),
    [("alice", "is not a patient pseudonym"), ("p-zzzzzzzzzzzz", "has no patient")],
)
def test_an_unknown_patient_is_one_line(
    filled: str, tmp_path: Path, patient: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["export", "fhir", patient, "--db", filled, "-o", str(tmp_path / "b.json")])
    assert status == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()
