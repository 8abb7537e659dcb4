"""The command line's finish: --version, a description on every subcommand, ISO times in the
policy history, and one JSON object from `policy set --json` and `topics --json`."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

import vagus
from stream.events import AuditEntry, PolicySnapshot, PolicyVersion
from stream.settings import KafkaSettings
from tests.helpers import PATIENT, config_with_topics, run_vagus
from tests.vagus.test_cli_errors import walk
from vagus.cli import build_parser, version
from vagus.commands.common import iso_utc
from vagus.commands.policy import describe_history
from vagus.config import VagusConfig

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
#: 2026-12-03T08:15:02.987654321Z: the fraction is cut, not rounded up to :03.
DEC_3_NS = int(datetime(2026, 12, 3, 8, 15, 2, tzinfo=UTC).timestamp()) * 10**9 + 987_654_321


def test_version_prints_the_installed_version() -> None:
    result = run_vagus("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"vagus {importlib.metadata.version('vagus')}\n"


def test_version_falls_back_to_the_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    monkeypatch.setattr(vagus, "__version__", "9.9.9-source")
    assert version() == "9.9.9-source"


def test_source_version_is_in_step_with_pyproject() -> None:
    assert vagus.__version__ == tomllib.loads(PYPROJECT.read_text())["project"]["version"]


def _described(parser: argparse.ArgumentParser) -> bool:
    return parser.description is not None and len(parser.description.split()) >= 8


def test_every_subcommand_has_a_description() -> None:
    subcommands = [(words, parser) for words, parser in walk(build_parser()) if words]
    assert {("policy", "history"), ("import", "e4"), ("model", "train")} <= {
        words for words, _ in subcommands
    }  # the walk reaches sub-subcommands
    bare = sorted(" ".join(words) for words, parser in subcommands if not _described(parser))
    assert not bare, f"add a description= (what it does, when to use it) to: {bare}"


def test_the_description_check_catches_a_help_only_subcommand() -> None:
    parser = argparse.ArgumentParser()
    parser.add_subparsers().add_parser("new", help="help only")
    (_, sub), *_ = [(w, p) for w, p in walk(parser) if w]
    assert not _described(sub)


def test_iso_utc_is_second_precision_zulu() -> None:
    assert iso_utc(DEC_3_NS) == "2026-12-03T08:15:02Z"
    assert iso_utc(0) == "1970-01-01T00:00:00Z"


def test_history_shows_iso_times_and_keeps_the_nanoseconds() -> None:
    version_ = PolicyVersion(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=DEC_3_NS,
        version=1,
        policy=PolicySnapshot(cooldown_s=3600.0),
        changed_by="clinician:c-17",
        change_reason="fewer sessions",
    )
    entry = AuditEntry(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=DEC_3_NS + 1,
        actor="clinician:c-17",
        action="policy.set",
        target="policy v0 -> v1",
        old={"cooldown_s": "1800.0"},
        new={"cooldown_s": "3600.0"},
        reason="fewer sessions",
    )
    shown = json.loads(json.dumps(describe_history(PATIENT, [version_], [entry])))
    assert shown["versions"][0]["at"] == "2026-12-03T08:15:02Z"
    assert shown["versions"][0]["at_ns"] == DEC_3_NS
    assert shown["audit"][0]["at"] == "2026-12-03T08:15:02Z"
    assert shown["audit"][0]["at_ns"] == DEC_3_NS + 1


def _last_json(stdout: str) -> dict[str, object]:
    last = json.loads(stdout.strip().splitlines()[-1])
    assert isinstance(last, dict)
    return last


@pytest.mark.broker
async def test_policy_set_json_and_history_times(kafka: KafkaSettings, tmp_path: Path) -> None:
    config = str(await config_with_topics(kafka, tmp_path))
    args = ("--config", config, "policy", "set", PATIENT, "cooldown_s=3600", "intensity=0.3")
    who = ("--actor", "clinician:c-17", "--reason", "sessions felt too frequent")
    before_s = time.time()
    human = run_vagus(*args, *who)
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines()[0] == f"{PATIENT}: policy v1 published"
    assert "{" not in human.stdout  # without --json, today's output only

    changed = run_vagus(*args[:-2], "cooldown_s=7200", *who, "--json")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines()[0] == f"{PATIENT}: policy v2 published"  # still there
    published = _last_json(changed.stdout)
    assert published["patient"] == PATIENT
    assert published["version"] == 2
    assert published["changed"] == {"cooldown_s": {"old": "3600.0", "new": "7200.0"}}
    assert published["actor"] == "clinician:c-17"
    assert published["reason"] == "sessions felt too frequent"
    assert isinstance(published["policy"], dict) and published["policy"]["cooldown_s"] == 7200.0
    at = published["published"]
    assert isinstance(at, str) and ISO_UTC.match(at)
    at_s = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    assert int(before_s) <= at_s <= time.time()

    history = run_vagus("--config", config, "policy", "history", PATIENT)
    assert history.returncode == 0, history.stderr
    trail = json.loads(history.stdout)
    assert [v["at"] for v in trail["versions"]][-1] == at
    assert trail["versions"][-1]["at_ns"] == published["published_ns"]
    assert all(ISO_UTC.match(v["at"]) for v in trail["versions"] + trail["audit"])
    assert [iso_utc(a["at_ns"]) for a in trail["audit"]] == [a["at"] for a in trail["audit"]]


@pytest.mark.broker
def test_topics_json_reports_partitions_as_created_then_found(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(msgspec.json.encode(VagusConfig(kafka=kafka)))
    names = kafka.topics.all()

    first = run_vagus("--config", str(config), "topics", "--json")
    assert first.returncode == 0, first.stderr
    *human, _ = first.stdout.strip().splitlines()
    assert human == names  # the human listing comes first, as without --json
    created = _last_json(first.stdout)["topics"]
    assert isinstance(created, list)
    assert [t["topic"] for t in created] == names
    assert all(t["created"] for t in created)
    assert {(t["partitions"], t["replication_factor"]) for t in created} == {
        (kafka.partitions, kafka.replication_factor)
    }

    # A second run with other settings finds the topics as they are, not as configured now.
    more = msgspec.structs.replace(kafka, partitions=kafka.partitions + 2)
    config.write_bytes(msgspec.json.encode(VagusConfig(kafka=more)))
    again = run_vagus("--config", str(config), "topics", "--json")
    assert again.returncode == 0, again.stderr
    found = _last_json(again.stdout)["topics"]
    assert isinstance(found, list)
    assert not any(t["created"] for t in found)
    assert {t["partitions"] for t in found} == {kafka.partitions}

    plain = run_vagus("--config", str(config), "topics")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip().splitlines() == names
