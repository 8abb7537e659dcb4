"""Per-stream signal quality of each window as events: sent when it changes, and re-sent while
steady. The engine judges the quality (dsp.streaming.StreamQuality); this adapter decides which
judgements are news.

A consumer that keeps the last quality it heard (the closed loop's optional stale-quality hold,
policy ``signal_quality_max_age_s``) cannot tell "still fine" from "the gateway went quiet"
unless steady quality is repeated: every ``refresh_s`` of data time (QUALITY_REFRESH_S by
default, None for changes only) each stream's state is sent again. A max age of at least the
refresh period plus one hop is then safe.
"""

from __future__ import annotations

from collections.abc import Mapping

from dsp.streaming import StreamQuality
from dsp.streaming.clock import NS
from stream.events import CoverageKind, Event, SignalQuality

QUALITY_REFRESH_S = 300.0


class QualityReporter:
    """The last quality sent per stream, and when."""

    def __init__(self, *, patient_id: str, producer_id: str, refresh_s: float | None) -> None:
        if refresh_s is not None and not refresh_s > 0:
            raise ValueError("quality_refresh_s must be positive, or None for changes only")
        self.patient_id = patient_id
        self.producer_id = producer_id
        self.refresh_s = refresh_s
        self._kind: dict[str, CoverageKind] = {}
        self._sent_ns: dict[str, int] = {}

    def _due(self, stream: str, end: int) -> bool:
        last = self._sent_ns.get(stream)
        if self.refresh_s is None:
            return last is None
        return last is None or end - last >= self.refresh_s * NS

    def events(
        self,
        start: int,
        end: int,
        quality: Mapping[str, StreamQuality],
        devices: Mapping[str, str],
    ) -> list[Event]:
        """Quality events of the window [start, end) for the streams whose state is news."""
        events: list[Event] = []
        for stream, judged in sorted(quality.items()):
            share, gap = judged.coverage, judged.gap_share
            kind: CoverageKind = judged.kind
            if self._kind.get(stream) == kind and not self._due(stream, end):
                continue
            self._kind[stream] = kind
            self._sent_ns[stream] = end
            detail = f"{share:.0%} of the window's samples present"
            events.append(
                SignalQuality(
                    patient_id=self.patient_id,
                    producer_id=self.producer_id,
                    gateway_time_ns=end,
                    device_id=devices[stream],
                    stream=stream,
                    span_start_ns=start,
                    span_end_ns=end,
                    coverage=share,
                    kind=kind,
                    detail=f"{detail}; gaps cover {gap:.0%}" if gap > 0 else detail,
                )
            )
        return events
