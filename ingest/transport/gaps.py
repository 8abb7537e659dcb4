"""Explicit gaps at the transport: a lost link, from the disconnection to the first data after
reconnecting (or to the stop); and the typed value a recording's ``gap`` marker carries.

The transport decodes nothing: which samples each stream lost, and any jump in a stream's sample
times, the engine finds from the sample times (dsp.streaming.gaps: the one rule), so a live
session and its replay report the same gaps. A gap is
reported, never stitched: the recording gets a ``gap`` marker and the quality topic an event.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import msgspec

from dsp.streaming.gaps import GAP_PERIODS, LINK, MIN_GAP_S, GapReason
from dsp.streaming.gaps import Gap as StreamGap
from ingest.recording import Marker

log = logging.getLogger(__name__)

__all__ = [
    "GAP_MARKER_LABEL",
    "GAP_PERIODS",
    "LINK",
    "MIN_GAP_S",
    "Gap",
    "GapReason",
    "GapTracker",
]
GAP_MARKER_LABEL = "gap"


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing data of one stream between two instants on the gateway's timeline (ns)."""

    device_id: str
    stream: str
    start_ns: int
    end_ns: int
    reason: GapReason

    def marker(self, at_ns: int) -> Marker:
        """The recording's marker for this gap (detail is JSON, see docs/devices.md)."""
        return Marker(at_ns, GAP_MARKER_LABEL, json.dumps(asdict(self), separators=(",", ":")))

    @classmethod
    def from_marker(cls, marker: Marker) -> Gap:
        """The typed gap a ``gap`` marker carries (the boundary where a recording's or the
        transport's JSON becomes a value); ValueError when it is not a readable gap."""
        try:
            gap = msgspec.json.decode(marker.detail, type=cls)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a gap: {exc}") from exc
        if gap.end_ns <= gap.start_ns:
            raise ValueError(f"a gap must end after it starts ({gap.start_ns} >= {gap.end_ns})")
        return gap

    def as_stream_gap(self) -> StreamGap:
        """The engine's value for it (dsp.streaming.Gap: no device)."""
        return StreamGap(self.stream, self.start_ns, self.end_ns, self.reason)


class GapTracker:
    """Per device: when its link went down, and the link loss to report once data flows again.

    The transport reports link losses only, from its own arrival times (no decoding): a gap of
    the device's whole link (``stream="link"``) from the disconnection to the first data after
    the reconnection, or to the gateway's stop. Which samples each stream lost, and any jump in
    a stream's sample times, the engine finds from the sample times by dsp.streaming.gaps' one
    rule, live and in a replay alike.
    """

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._down_since_ns: int | None = None

    def disconnected(self, at_ns: int) -> None:
        if self._down_since_ns is None:  # the first loss counts
            self._down_since_ns = at_ns

    def close_open_gap(self, at_ns: int) -> list[Gap]:
        """End an open link loss at ``at_ns`` (the gateway stops, or another device is found)."""
        return self.observe(at_ns)

    def observe(self, at_ns: int) -> list[Gap]:
        """Data arrived at ``at_ns``: the link loss it ends, if the link was down."""
        down, self._down_since_ns = self._down_since_ns, None
        if down is None or at_ns <= down:
            return []
        return [Gap(self.device_id, LINK, down, at_ns, "disconnected")]
