"""docs/events.md matches the code: every documented example round-trips exactly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stream.codec import decode_event, encode_event
from stream.events import EVENT_TYPES, event_type_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
EXAMPLES = re.findall(r"^### (\w+)\n.*?```json\n(.*?)\n```", DOC.read_text(), re.S | re.M)


def test_every_event_type_is_documented_with_an_example() -> None:
    assert sorted(name for name, _ in EXAMPLES) == sorted(event_type_name(t) for t in EVENT_TYPES)


@pytest.mark.parametrize(("name", "example"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_round_trips(name: str, example: str) -> None:
    event = decode_event(example.encode())
    assert event_type_name(type(event)) == name
    assert json.loads(encode_event(event)) == json.loads(example)
