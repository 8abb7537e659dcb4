"""Matching SCR peak lists within a tolerance, and the consensus of several tools.

Two lists match one to one: every pair of peaks closer than the tolerance is a candidate, the
closest pairs are taken first, and a peak is used at most once. The consensus of k tools is
built the same way in time order: the earliest peak not yet used opens a group, each other tool
adds its nearest unused peak within the tolerance of that opening peak, and the group is a
consensus response when a strict majority of the tools (more than k / 2) are in it; it is placed
at the median of its members' peaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Match:
    """True positives, false positives (in ours only) and misses (in the reference only)."""

    tp: int
    fp: int
    fn: int

    def __add__(self, other: Match) -> Match:
        return Match(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        total = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / total if total else 1.0


def matched_pairs(ours: IntArray, ref: IntArray, tol: float) -> list[tuple[int, int]]:
    """(index into ours, index into ref) of one-to-one matches within tol samples, closest first."""
    ours, ref = np.asarray(ours, np.int64), np.asarray(ref, np.int64)
    pairs: list[tuple[int, int, int]] = []
    for i, p in enumerate(ours.tolist()):
        lo = int(np.searchsorted(ref, p - tol, side="left"))
        hi = int(np.searchsorted(ref, p + tol, side="right"))
        pairs.extend((abs(int(ref[j]) - p), i, j) for j in range(lo, hi))
    used_ours: set[int] = set()
    used_ref: set[int] = set()
    out: list[tuple[int, int]] = []
    for _, i, j in sorted(pairs):
        if i not in used_ours and j not in used_ref:
            used_ours.add(i)
            used_ref.add(j)
            out.append((i, j))
    return out


def match(ours: IntArray, ref: IntArray, tol: float) -> Match:
    """Counts of the one-to-one matching of sorted peak lists within tol samples."""
    tp = len(matched_pairs(np.sort(ours), np.sort(ref), tol))
    return Match(tp, int(np.size(ours)) - tp, int(np.size(ref)) - tp)


def consensus(peaks_by_tool: Sequence[IntArray], tol: float) -> IntArray:
    """Peaks that more than half of the tools find within tol samples of each other."""
    k = len(peaks_by_tool)
    if k == 0:
        return np.zeros(0, np.int64)
    events = sorted(
        (int(p), tool) for tool, peaks in enumerate(peaks_by_tool) for p in np.unique(peaks)
    )
    used = [False] * len(events)
    out: list[tuple[int, int]] = []  # (peak, votes)
    for start, (anchor, anchor_tool) in enumerate(events):
        if used[start]:
            continue
        used[start] = True
        members = {anchor_tool: (start, anchor)}
        stop = start + 1
        while stop < len(events) and events[stop][0] <= anchor + tol:
            stop += 1
        for n in range(start + 1, stop):
            t, tool = events[n]
            if used[n]:
                continue
            best = members.get(tool)
            if best is None or abs(t - anchor) < abs(best[1] - anchor):
                members[tool] = (n, t)
        if 2 * len(members) > k:
            for n, _ in members.values():
                used[n] = True
            out.append((int(np.median([t for _, t in members.values()])), len(members)))
    return _merge_closer_than(sorted(out), tol)


def _merge_closer_than(events: list[tuple[int, int]], tol: float) -> IntArray:
    """One peak per run of consensus peaks closer than tol: the best supported, earliest first.

    Tools that place several impulses on one response (a deconvolution's driver does) can give
    two majority groups for it; no tool here resolves responses closer than the tolerance."""
    kept: list[tuple[int, int]] = []
    for t, votes in events:
        if kept and t - kept[-1][0] <= tol:
            if votes > kept[-1][1]:
                kept[-1] = (t, votes)
            continue
        kept.append((t, votes))
    return np.asarray([t for t, _ in kept], dtype=np.int64)
