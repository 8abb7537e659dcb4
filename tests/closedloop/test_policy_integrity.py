"""Policy versions cannot fork or be forged: one rule over the log, for the CLI and the worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closedloop.app import ClosedLoopWorker
from closedloop.policy import DEFAULT_POLICY, SAFE_RANGES
from closedloop.policy_log import PolicyState, current_policy, text_problems
from closedloop.policy_store import candidate, read_records
from stream.events import PolicySnapshot, PolicyVersion
from stream.producer import EventProducer
from stream.settings import KafkaSettings
from tests.helpers import PATIENT, config_with_topics, run_vagus

ROOT = Path(__file__).resolve().parents[2]
LOW, HIGH = SAFE_RANGES["cooldown_s"]


def _set(
    config: str, *changes: str, actor: str = "clinician:c-1", reason: str = "test"
) -> list[str]:
    return [
        "--config",
        config,
        "policy",
        "set",
        PATIENT,
        *changes,
        "--actor",
        actor,
        "--reason",
        reason,
    ]


def _json(config: str, command: str) -> dict[str, Any]:
    shown = run_vagus("--config", config, "policy", command, PATIENT)
    assert shown.returncode == 0, shown.stderr
    loaded = json.loads(shown.stdout)
    assert isinstance(loaded, dict)
    return loaded


def _as_json(policy: PolicySnapshot) -> object:
    return json.loads(msgspec.json.encode(policy))


def _cooldown(index: int) -> float:
    """Distinct cooldowns inside the safe range, whatever its bounds are."""
    return LOW + (HIGH - LOW) * (index + 1) / 1000


async def _publish_raw(kafka: KafkaSettings, version: PolicyVersion) -> None:
    """Write a version straight to the topic, as a forger (or a buggy tool) would."""
    producer = EventProducer(kafka, producer_id="forger")
    await producer.start()
    try:
        await producer.send_and_wait(version)
    finally:
        await producer.stop()


def _forged(version: int, policy: PolicySnapshot) -> PolicyVersion:
    return PolicyVersion(
        patient_id=PATIENT,
        producer_id="forger",
        gateway_time_ns=1,
        version=version,
        policy=policy,
        changed_by="clinician:c-1",
        change_reason="no audit",
    )


async def _worker_state(kafka: KafkaSettings, tmp_path: Path) -> tuple[int, PolicySnapshot]:
    """What the worker runs the patient on after reading the policy log at start-up."""
    worker = ClosedLoopWorker(kafka, enrolment_file=tmp_path / "enrolment.json")
    await worker.load_policies()
    state = worker.table.state_for(PATIENT)
    return state.policy_version, state.policy


@pytest.mark.broker
@pytest.mark.slow
async def test_concurrent_sets_never_share_a_version(kafka: KafkaSettings, tmp_path: Path) -> None:
    config = str(await config_with_topics(kafka, tmp_path))
    cooldowns = [_cooldown(i) for i in range(6)]
    running = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vagus",
                *_set(config, f"cooldown_s={c}", actor=f"clinician:c-{i}"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, c in enumerate(cooldowns)
    ]
    outputs = [process.communicate(timeout=120) for process in running]
    succeeded = [out for (out, _), p in zip(outputs, running, strict=True) if p.returncode == 0]
    printed = sorted(int(out.split(" v")[1].split()[0]) for out in succeeded)
    history = _json(config, "history")
    versions = [v["version"] for v in history["versions"]]
    assert len(succeeded) >= 1
    assert printed == versions == list(range(1, len(succeeded) + 1))
    shown = _json(config, "show")
    assert shown["version"] == len(succeeded)
    worker_version, worker_policy = await _worker_state(kafka, tmp_path)
    assert worker_version == shown["version"]
    assert _as_json(worker_policy) == shown["policy"]


@pytest.mark.broker
async def test_a_forged_version_is_never_current_nor_inherited(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = str(await config_with_topics(kafka, tmp_path))
    first = run_vagus(*_set(config, "cooldown_s=3600"))
    assert "policy v1 published" in first.stdout, first.stderr
    v1 = PolicySnapshot(cooldown_s=3600.0)
    quiet_off = msgspec.structs.replace(v1, quiet_hours_start=None, quiet_hours_end=None)
    await _publish_raw(kafka, _forged(2, quiet_off))

    shown = _json(config, "show")
    assert shown["version"] == 1 and shown["policy"] == _as_json(v1)
    assert await _worker_state(kafka, tmp_path) == (1, v1)
    refused = _json(config, "history")["refused"]
    assert [(r["version"], r["why"]) for r in refused] == [(2, "no audit entry")]

    second = run_vagus(*_set(config, "intensity=0.3"))
    assert "policy v2 published" in second.stdout, second.stderr
    shown = _json(config, "show")
    assert shown["version"] == 2
    assert shown["policy"] == _as_json(msgspec.structs.replace(v1, intensity=0.3))
    assert shown["policy"]["quiet_hours_start"] == 22
    assert (await _worker_state(kafka, tmp_path))[0] == 2


@pytest.mark.broker
async def test_an_unsafe_version_is_refused_and_blocks_nothing(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = str(await config_with_topics(kafka, tmp_path))
    assert run_vagus(*_set(config, "cooldown_s=3600")).returncode == 0
    v1 = PolicySnapshot(cooldown_s=3600.0)
    unsafe = msgspec.structs.replace(v1, session_duration_s=7200.0)
    # Audited like a real change, so only the safe ranges can refuse it.
    await _publish_raw(
        kafka,
        candidate(
            PolicyState(1, v1), unsafe, patient_id=PATIENT, actor="clinician:c-9", reason="x"
        ),
    )
    history = _json(config, "history")
    (refused,) = history["refused"]
    assert refused["version"] == 2 and refused["why"].startswith("unsafe: session_duration_s")
    assert _json(config, "show")["version"] == 1
    assert await _worker_state(kafka, tmp_path) == (1, v1)

    after = run_vagus(*_set(config, "intensity=0.3"))
    assert after.returncode == 0 and "policy v2 published" in after.stdout, after.stderr
    shown = _json(config, "show")
    assert shown["policy"]["session_duration_s"] == DEFAULT_POLICY.session_duration_s
    assert (await _worker_state(kafka, tmp_path))[0] == 2


@pytest.mark.broker
async def test_the_live_worker_path_folds_in_log_order(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    """Records delivered one by one (with a redelivery) end where the start-up read ends."""
    config = str(await config_with_topics(kafka, tmp_path))
    assert run_vagus(*_set(config, "cooldown_s=3600")).returncode == 0
    await _publish_raw(
        kafka, _forged(2, PolicySnapshot(quiet_hours_start=None, quiet_hours_end=None))
    )
    assert run_vagus(*_set(config, "intensity=0.3")).returncode == 0
    records = await read_records(kafka, kafka.topics.name("policy"))
    worker = ClosedLoopWorker(kafka, enrolment_file=tmp_path / "enrolment.json")
    for record in [*records, *records]:
        assert isinstance(record.event, PolicyVersion)
        worker.table.apply_policy(record.event, partition=record.partition, offset=record.offset)
    state = worker.table.state_for(PATIENT)
    assert (state.policy_version, state.policy.quiet_hours_start) == (2, 22)


@pytest.mark.broker
@pytest.mark.parametrize(
    ("actor", "reason", "named"),
    [
        ("clinician:c-1\nclinician:c-2", "ok", "actor"),
        ("clinician:c-1", "fine\nAPPROVED by clinician:c-2", "reason"),
        ("clinician:c-1", "tab\there", "reason"),
        ("clinician:c-1", "\x1b[2Jcleared", "reason"),
        ("clinician:c-1", "bidi \u202egnirts", "reason"),
        ("c-1", "no role", "actor"),
        ("clinician:" + "c" * 200, "too long", "actor"),
        ("clinician:c-1", "x" * 501, "reason"),
    ],
)
async def test_actor_and_reason_must_be_plain_text(
    kafka: KafkaSettings, tmp_path: Path, actor: str, reason: str, named: str
) -> None:
    config = str(await config_with_topics(kafka, tmp_path))
    refused = run_vagus(*_set(config, "cooldown_s=3600", actor=actor, reason=reason))
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert named in line and "Traceback" not in line
    assert _json(config, "history")["versions"] == []


def test_the_reader_rule_ignores_control_characters_on_the_topic() -> None:
    """NUL cannot pass through argv, so the rule itself must refuse it if a record carries it."""
    assert text_problems("clinician:c-1", "fine") == []
    assert text_problems("clinician:c-1", "a\x00b")
    record = candidate(
        PolicyState(0, DEFAULT_POLICY),
        msgspec.structs.replace(DEFAULT_POLICY, intensity=0.3),
        patient_id=PATIENT,
        actor="clinician:c-1",
        reason="a\x00b",
    )
    log = current_policy([record], DEFAULT_POLICY)
    assert log.state.version == 0 and "reason" in log.refused[0].why


KINDS = ("valid", "forged", "unsafe", "bad_text", "stale", "skips", "wrong_audit", "repeat")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(KINDS), max_size=30))
def test_the_current_version_is_the_latest_valid_one_in_log_order(kinds: list[str]) -> None:
    """A model that knows which records are valid, against the rule over any interleaving."""
    states = [PolicyState(0, DEFAULT_POLICY)]  # the model: every valid state so far
    log_records: list[PolicyVersion] = []
    valid_ids: list[str] = []
    for index, kind in enumerate(kinds):
        now = states[-1]
        changed = msgspec.structs.replace(now.policy, cooldown_s=_cooldown(index))
        make = {"patient_id": PATIENT, "actor": "clinician:c-1", "reason": f"change {index}"}
        record = candidate(now, changed, **make)
        if kind == "valid":
            states.append(PolicyState(record.version, changed, record))
            valid_ids.append(record.event_id)
        elif kind == "forged":
            record = msgspec.structs.replace(record, audit=None)
        elif kind == "unsafe":
            unsafe = msgspec.structs.replace(now.policy, cooldown_s=HIGH + 1)
            record = candidate(now, unsafe, **make)
        elif kind == "bad_text":
            record = candidate(now, changed, **(make | {"actor": "clinician:c-1\nx"}))
        elif kind == "stale" and len(states) > 1:
            record = candidate(states[-2], changed, **make)
        elif kind == "skips":
            record = msgspec.structs.replace(record, version=now.version + 2)
        elif kind == "wrong_audit":
            assert record.audit is not None
            record = msgspec.structs.replace(
                record, audit=msgspec.structs.replace(record.audit, new={"intensity": "0.1"})
            )
        elif kind == "repeat" and log_records:
            record = log_records[-1]  # a producer retry's duplicate
        else:
            continue
        log_records.append(record)
    log = current_policy(log_records, DEFAULT_POLICY)
    assert log.state.version == states[-1].version
    assert log.state.policy == states[-1].policy
    assert [r.event_id for r in log.accepted] == valid_ids
    assert [r.version for r in log.accepted] == list(range(1, len(valid_ids) + 1))
    assert all(r.why for r in log.refused)
