"""Explicit gaps: a lost link, and any jump in the sample times the decoders produce.

The transport decodes each data notification a second time (the gateway decodes it for DSP) only
to watch sample times: a jump is a gap by dsp.streaming.gaps' one rule (the engine's, the dry
run's), and so is the time between a disconnection and the first data after reconnecting. A gap is
reported, never stitched: the recording gets a ``gap`` marker and the quality topic an event.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import msgspec

from dsp.streaming.gaps import GAP_PERIODS, MIN_GAP_S, GapReason, jump_limit_ns
from dsp.streaming.gaps import Gap as StreamGap
from ingest.decoding import DeviceDecoder
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.recording import Marker

log = logging.getLogger(__name__)

__all__ = ["GAP_MARKER_LABEL", "GAP_PERIODS", "MIN_GAP_S", "Gap", "GapReason", "GapTracker"]
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
    """Per device: the last sample time of each stream, and the streams a lost link left open.

    A disconnection gap runs, per stream, from the last sample received before the link went
    down to the first sample received after it came back: frames lost in flight while the link
    was failing fall inside it, so nothing outside a gap is ever missing. A stream that never
    comes back is closed when the gateway stops.
    """

    def __init__(self, device_id: str, profile: str) -> None:
        self.device_id = device_id
        self._decoder = DeviceDecoder(device_id, profile)
        self._last_ns: dict[str, int] = {}
        self._open: dict[str, int] = {}
        self._down_since_ns: int | None = None
        self.decode_errors = 0

    def disconnected(self, at_ns: int) -> None:
        if self._down_since_ns is None:
            self._down_since_ns = at_ns
            self._open |= self._last_ns
            self._last_ns = {}

    def close_open_gap(self, at_ns: int) -> list[Gap]:
        """End every open disconnection gap at ``at_ns`` (the gateway stops)."""
        gaps = [Gap(self.device_id, s, t, at_ns, "disconnected") for s, t in self._open.items()]
        if not gaps and self._down_since_ns is not None:
            gaps = [Gap(self.device_id, "link", self._down_since_ns, at_ns, "disconnected")]
        self._open, self._down_since_ns = {}, None
        return gaps

    def observe(self, notification: Notification) -> list[Gap]:
        """Gaps that this data notification reveals (including the end of a disconnection)."""
        self._down_since_ns = None  # the link is up again; streams close as their data returns
        try:
            blocks = self._decoder.decode(notification)
        except DecodeError:
            self.decode_errors += 1  # counted and logged by the gateway's own decoder
            return []
        gaps = []
        for block in blocks:
            if not len(block.times_ns):
                continue
            first, last = int(block.times_ns[0]), int(block.times_ns[-1])
            stream = block.stream
            previous = self._last_ns.get(stream)
            self._last_ns[stream] = last if previous is None else max(last, previous)
            if (opened := self._open.pop(stream, None)) is not None:
                gaps.append(Gap(self.device_id, stream, opened, first, "disconnected"))
            elif previous is not None and block.rate_hz:
                limit = jump_limit_ns(block.rate_hz)
                if first - previous > limit:
                    gaps.append(Gap(self.device_id, stream, previous, first, "sample_time_jump"))
        return gaps
