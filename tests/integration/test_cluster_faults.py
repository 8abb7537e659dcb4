"""Broker faults on a three-node Apache Kafka cluster (replication 3, min ISR 2) while a paced
stream runs through gateway producers, the closed-loop worker and a device: the leader of a
patient's partition killed with -9, a rolling restart of every node, one node stopped for 15 s
(the bench, bench/cluster_faults.py, stops it for the full minute). Nothing is lost, no session
starts twice, and the worker decides exactly as in an uninterrupted run of the same events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream.local_kafka import java_missing

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
#: shorter than the bench's minute, so the test fits the suite (docs/reliability.md)
OUTAGE_S = 15


def test_leader_kill_rolling_restart_and_outage_lose_nothing_and_decide_the_same() -> None:
    missing = java_missing()
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"{missing}: CI runs the broker tier on real Kafka", pytrace=False)
    if missing:
        pytest.skip(missing)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cluster_faults.py"), "--outage-s", str(OUTAGE_S),
         "--patients", "8", "--block-s", "2", "--json"],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=420,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))
    assert set(result["faults"]) == {"leader", "rolling", "outage"}
    assert result["events"] > 0
    assert result["events_lost"] == 0
    assert result["duplicate_sessions"] == 0
    assert result["device_commands_not_in_reference"] == 0
    assert result["worker_exits"] == []
    assert result["decisions"] == result["reference_decisions"] > 0
    assert result["decisions_equal"] is True
    assert result["device_commands"] == result["reference_commands"] > 0
    for fault, figures in result["faults"].items():
        # every fault stalls the loop for a while, but it recovers within the run
        assert 0 < figures["longest_decision_gap_s"] < 60, fault
