"""The ACL set (stream.acls): what each role may do, and the docs' table drawn from it."""

from __future__ import annotations

from pathlib import Path

from stream.acls import Grant, Operation, Resource, markdown_rows, vagus_grants
from stream.topics import TopicSet

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
TOPICS = TopicSet()


def _who(grants: list[Grant], operation: Operation, suffix: str) -> set[str]:
    name = TOPICS.name(suffix)
    return {
        g.principal
        for g in grants
        if g.operation == operation and g.resource == Resource.TOPIC and g.name == name
    }


def test_only_the_loop_commands_and_only_clinicians_change_a_policy() -> None:
    grants = vagus_grants(TOPICS, review=True)
    assert _who(grants, Operation.WRITE, "commands") == {"worker"}
    assert _who(grants, Operation.WRITE, "policy") == {"clinician"}
    assert _who(grants, Operation.WRITE, "stress") == {"gateway"}
    assert _who(grants, Operation.READ, "policy") == {"worker", "clinician"}
    assert not [
        g for g in grants if g.operation == Operation.CREATE and g.name.startswith("vagus.")
    ]


def test_the_gateway_reads_only_what_it_acts_on() -> None:
    reads = {
        g.name
        for g in vagus_grants(TOPICS)
        if g.principal == "gateway" and g.operation == Operation.READ
    }
    assert reads == {TOPICS.name("commands"), TOPICS.name("decisions"), "vagus-gateway-"}


def test_docs_security_shows_every_grant() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [row for row in markdown_rows(vagus_grants(TOPICS, review=True)) if row not in text]
    assert not missing, "docs/security.md lacks these rows of stream.acls:\n" + "\n".join(missing)
