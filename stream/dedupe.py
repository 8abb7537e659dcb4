"""Duplicate suppression by event id.

Delivery is at-least-once (a consumer that restarts re-reads what it had not committed, and the
bundled broker has no idempotent producer), so every consumer drops events it has already seen.
The memory is bounded: ids older than ``capacity`` deliveries are forgotten, which is safe because
redeliveries arrive within one uncommitted batch, far inside the window.
"""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """A bounded set of recently seen event ids, oldest forgotten first."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """Record ``event_id``; True when it had not been seen (within the window)."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._ids)
