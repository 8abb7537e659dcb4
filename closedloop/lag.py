"""How far the worker is behind its inputs, for the operator's metrics.

A worker that keeps up leaves nothing waiting on its partitions; one that falls behind (too
few workers for the patients, a slow broker, a handler stuck on a lock) shows a growing count
here long before a patient notices a late session. The broker's end offset comes from the
consumer's last fetch (no request of its own); the next offset to read is what the worker
itself noted as it handled each record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

__all__ = ["InputPositions", "TopicPartitionLike"]


class TopicPartitionLike(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


class InputPositions:
    """The next offset to read on each input partition, as the worker handles records."""

    def __init__(self, suffix_of: Callable[[str], str | None]) -> None:
        self._suffix_of = suffix_of  # full topic name -> its suffix, None if not an input
        self._next: dict[tuple[str, int], int] = {}

    def handled(self, topic: str, partition: int, offset: int) -> None:
        self._next[(topic, partition)] = offset + 1

    def forget(self, assigned: Iterable[TopicPartitionLike]) -> None:
        """Keep only the partitions still assigned: another worker now reports the rest."""
        keep = {(tp.topic, tp.partition) for tp in assigned}
        for key in [key for key in self._next if key not in keep]:
            del self._next[key]

    def lag_by_topic(
        self, assigned: Iterable[TopicPartitionLike], end_offset: Callable[[Any], int | None]
    ) -> dict[str, int]:
        """Records waiting per input topic suffix, over the assigned partitions whose end the
        consumer has seen and that the worker has read since they were assigned. (Before its
        first record a partition's position is its committed offset, which faust keeps to
        itself: such a partition counts 0 and the admitted-events counter shows a stall.)"""
        lag: dict[str, int] = {}
        for tp in assigned:
            suffix = self._suffix_of(tp.topic)
            end = end_offset(tp)
            if suffix is None:
                continue
            position = self._next.get((tp.topic, tp.partition))
            waiting = 0 if end is None or position is None else max(0, end - position)
            lag[suffix] = lag.get(suffix, 0) + waiting
        return lag
