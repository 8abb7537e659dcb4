"""Event ids keep their documented shapes after the hand-rolled fast paths."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from stream.ids import _DERIVED_NAMESPACE, derived_event_id, new_event_id


@given(kind=st.text(min_size=1, max_size=20), source=st.text(max_size=80))
def test_derived_ids_equal_the_standard_name_based_uuid(kind: str, source: str) -> None:
    expected = str(uuid.uuid5(_DERIVED_NAMESPACE, f"{kind}:{source}"))
    assert derived_event_id(kind, source) == expected


def test_new_ids_are_canonical_version_7_uuids() -> None:
    for _ in range(5000):
        text = new_event_id()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
