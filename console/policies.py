"""A patient's policy versions as the closed loop sees them: the policy log folded by its rule.

Which version is current depends on the order of the records and on the ones refused (a race's
loser, an unsafe or unaudited record), so the console does not keep its own table of versions:
it reads the patient's ``policy_version`` events in log order (one partition, keyed by patient)
and folds them with ``closedloop.policy_log``, the rule the CLI and the worker use.
"""

from __future__ import annotations

from typing import Any

import msgspec

from closedloop.policy_log import PolicyLog, current_policy
from console.db import Database
from stream.events import PolicySnapshot, PolicyVersion


def policy_log(db: Database, patient_id: str, default: PolicySnapshot) -> PolicyLog:
    rows = db.query(
        "SELECT body FROM events WHERE patient_id = ? AND kind = 'policy_version'"
        " ORDER BY kafka_partition, kafka_offset",
        (patient_id,),
    )
    records = [msgspec.json.decode(str(body), type=PolicyVersion) for (body,) in rows]
    return current_policy(records, default)


def policy_at(log: PolicyLog, default: PolicySnapshot, version: int) -> dict[str, Any]:
    """The accepted policy of ``version`` (0: the configured default); empty when unknown."""
    if version == 0:
        return dict(msgspec.to_builtins(default))
    for record in log.accepted:
        if record.version == version:
            return dict(msgspec.to_builtins(record.policy))
    return {}


def threshold_steps(
    log: PolicyLog, default: PolicySnapshot, start_ns: int
) -> list[tuple[int, float]]:
    """The score threshold over time: the default, then each accepted version from its time."""
    steps = [(start_ns, default.score_threshold)]
    steps += [
        (max(record.gateway_time_ns, start_ns), record.policy.score_threshold)
        for record in log.accepted
    ]
    return steps
