"""The Kafka ACLs vagus needs, one list for the docs, the tests and a deployment's admin.

Three principals, each allowed only what its code does (read from the code, see docs/security.md):
the gateway, the closed-loop worker and the clinicians' policy tool. :func:`vagus_grants` lists
every grant with the reason for it; :func:`apply_grants` creates them through Kafka's admin API
(CreateAcls), sent with aiokafka's protocol classes because its admin client has no call for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import IntEnum

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import CreateAclsRequest

from stream.errors import BrokerError
from stream.settings import KafkaSettings
from stream.topics import INTERNAL_SUFFIXES, TopicSet

__all__ = [
    "GATEWAY_GROUP_PREFIX",
    "Grant",
    "Operation",
    "Resource",
    "apply_grants",
    "markdown_rows",
    "vagus_grants",
    "worker_app_id",
]

#: The gateway's command consumer joins ``vagus-gateway-<patient>`` (vagus.gateway).
GATEWAY_GROUP_PREFIX = "vagus-gateway-"


class Resource(IntEnum):
    """Kafka's resource type codes (the CreateAcls request's ``resource_type``)."""

    TOPIC = 2
    GROUP = 3


class Operation(IntEnum):
    """Kafka's ACL operation codes."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


_LITERAL, _PREFIXED = 3, 4  # pattern type codes
_ALLOW = 3  # permission type code


@dataclass(frozen=True, slots=True)
class Grant:
    """Allow ``principal`` (a user name) ``operation`` on one resource, or on every resource
    whose name starts with ``name`` when ``prefixed``; ``why`` is the code that needs it."""

    principal: str
    operation: Operation
    resource: Resource
    name: str
    why: str
    prefixed: bool = False


def worker_app_id(topics: TopicSet) -> str:
    """The worker's faust app id: its consumer group and the prefix of faust's own topics."""
    return f"{topics.prefix}-closedloop"


def _topics(
    principal: str, operations: tuple[Operation, ...], topics: TopicSet, suffixes: str, why: str
) -> list[Grant]:
    return [
        Grant(principal, op, Resource.TOPIC, topics.name(suffix), why)
        for suffix in suffixes.split()
        for op in operations
    ]


#: Kafka lets READ and WRITE imply DESCRIBE (metadata, offsets), so no grant names it.
_READ = (Operation.READ,)
_WRITE = (Operation.WRITE,)


def vagus_grants(
    topics: TopicSet,
    *,
    gateway: str = "gateway",
    worker: str = "worker",
    clinician: str = "clinician",
    review: bool = False,
) -> list[Grant]:
    """Every ACL the three principals need under ``topics``, and nothing more; ``review`` adds
    READ for the clinician on the audit, decisions and evaluations (for a review tool).

    Nobody is granted ``raw`` (nothing writes it yet) nor CREATE on the event topics: an admin
    creates the topic set (`vagus topics`); the gateway's own attempt is refused and logged.
    """
    app_id = worker_app_id(topics)
    (state_suffix,) = INTERNAL_SUFFIXES
    return [
        *_topics(
            gateway,
            _WRITE,
            topics,
            "features stress sleep quality outcomes",
            "the gateway's events, session outcomes and patient controls (SpoolingProducer)",
        ),
        *_topics(gateway, _WRITE, topics, "deadletter", "the gateway dead-letters bad commands"),
        *_topics(gateway, _READ, topics, "commands decisions", "the gateway's command consumer"),
        Grant(
            gateway,
            Operation.READ,
            Resource.GROUP,
            GATEWAY_GROUP_PREFIX,
            "the command consumer's group, one per patient",
            prefixed=True,
        ),
        *_topics(
            worker,
            _READ,
            topics,
            "features stress sleep quality outcomes policy",
            "the closed loop's inputs (closedloop.app.INPUT_SUFFIXES)",
        ),
        *_topics(
            worker,
            _WRITE,
            topics,
            "decisions commands evaluations deadletter",
            "the closed loop's outputs and dead letters",
        ),
        *_topics(
            worker,
            (*_READ, *_WRITE),
            topics,
            state_suffix,
            "per-patient snapshots, written and restored (closedloop.state_store)",
        ),
        Grant(worker, Operation.READ, Resource.GROUP, app_id, "the worker's consumer group"),
        *[
            Grant(
                worker,
                op,
                Resource.TOPIC,
                f"{app_id}-__assignor-__leader",
                "faust creates and subscribes to its assignor's leader topic at every start",
            )
            for op in (Operation.CREATE, *_READ)
        ],
        *_topics(
            clinician,
            _WRITE,
            topics,
            "policy audit",
            "`vagus policy set`: a policy version, then its audit entry",
        ),
        *_topics(
            clinician,
            _READ,
            topics,
            "policy",
            "the policy log's history and read-after-write (assigned partitions, no group)",
        ),
        *(
            _topics(
                clinician,
                _READ,
                topics,
                "audit decisions evaluations",
                "review of what the loop did (no vagus command reads these yet)",
            )
            if review
            else []
        ),
    ]


def markdown_rows(grants: list[Grant]) -> list[str]:
    """The grants as rows of docs/security.md's table: one per principal, operations and why."""
    rows: dict[tuple[str, str, str], list[str]] = {}
    for grant in grants:
        name = f"{grant.resource.name.lower()} `{grant.name}{'*' if grant.prefixed else ''}`"
        key = (grant.principal, grant.why, name)
        rows.setdefault(key, []).append(grant.operation.name)
    merged: dict[tuple[str, str, str], list[str]] = {}
    for (principal, why, name), operations in rows.items():
        merged.setdefault((principal, ", ".join(operations), why), []).append(name)
    return [
        f"| {principal} | {operations} | {', '.join(names)} | {why} |"
        for (principal, operations, why), names in merged.items()
    ]


async def apply_grants(
    admin: KafkaSettings, grants: list[Grant], *, timeout_s: float = 30.0
) -> None:
    """Create ``grants`` as the principal ``admin`` connects as (a super user, or one allowed
    ALTER on the cluster). Creating an ACL that exists already is not an error in Kafka."""
    client = AIOKafkaClient(request_timeout_ms=int(timeout_s * 1000), **admin.client_kwargs())
    try:
        async with asyncio.timeout(timeout_s):
            await client.bootstrap()
            node = client.get_random_node()
            for grant in grants:
                request = CreateAclsRequest(
                    int(grant.resource),
                    grant.name,
                    _PREFIXED if grant.prefixed else _LITERAL,
                    f"User:{grant.principal}",
                    "*",
                    int(grant.operation),
                    _ALLOW,
                )
                response = await client.send(node, request)
                for error_code, message in response.creation_responses:
                    if error_code:
                        raise BrokerError(f"creating the ACL {grant} failed: {message}")
    finally:
        await client.close()
