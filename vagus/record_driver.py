"""One record at a time through decoding and the feature pipeline: the gateway's signal path.

The live gateway, the demo (a replay through the gateway) and `vagus analyze` all call
:meth:`RecordDriver.handle`, so an offline table of windows is what the gateway would have sent,
not a re-implementation of it. The driver knows nothing of Kafka or clocks: what to do with a
closed window (publish it, wait for the loop, write a row) is the caller's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from dsp.stress import StressModel
from ingest.decoder_set import DecoderSet
from ingest.errors import DecodeError
from ingest.recording import DeviceEntry, DeviceRecord, Marker, NotificationRecord
from ingest.transport.gaps import GAP_MARKER_LABEL, Gap
from stream.events import Event
from vagus.config import VagusConfig
from vagus.gateway_stats import GatewayStats
from vagus.pipeline import ClosedWindow, FeaturePipeline

log = logging.getLogger(__name__)

Record = NotificationRecord | Marker | DeviceRecord


class RecordDriver:
    """Decoders, one patient's pipeline, and the counters of what came in (``stats``).

    ``stats`` is the gateway's own :class:`GatewayStats` when a gateway drives; the driver
    updates only its input counters (notifications, decode errors, markers, bad gap markers).
    """

    def __init__(
        self, decoders: DecoderSet, pipeline: FeaturePipeline, stats: GatewayStats | None = None
    ) -> None:
        self.decoders = decoders
        self.pipeline = pipeline
        self.stats = stats if stats is not None else GatewayStats()

    @classmethod
    def build(
        cls,
        *,
        devices: Mapping[str, str | DeviceEntry],
        config: VagusConfig,
        patient_id: str,
        producer_id: str,
        state_dir: Path | None,
        stats: GatewayStats | None = None,
        model: StressModel | None = None,
    ) -> RecordDriver:
        """The driver a gateway runs; ``state_dir`` keeps the patient's calibration baseline;
        ``model``: see FeaturePipeline."""
        pipeline = FeaturePipeline(
            patient_id=patient_id,
            producer_id=producer_id,
            windows=config.windows,
            stress=config.stress_model,
            state_dir=state_dir,
            model=model,
        )
        return cls(DecoderSet(devices), pipeline, stats)

    def handle(self, record: Record) -> list[ClosedWindow]:
        """Decode one record into the pipeline; the windows its time closes."""
        if isinstance(record, Marker):
            self.stats.markers.append(record)
            if record.label == GAP_MARKER_LABEL:
                self.mark_gap(record)
            return []
        if isinstance(record, DeviceRecord):
            self.decoders.declare(record.device)
            return []
        self.stats.notifications += 1
        try:
            blocks = self.decoders.decode(record)
        except DecodeError as exc:
            key = f"{record.device_id}/{record.characteristic}"
            if not self.stats.decode_errors[key]:
                log.warning("decode error on %s: %s (counting further ones)", key, exc)
            self.stats.decode_errors[key] += 1
            return []
        for block in blocks:
            self.pipeline.add(block)
        return self.pipeline.advance(record.gateway_time_ns)

    def mark_gap(self, marker: Marker) -> None:
        """Tell the pipeline which data is missing (so no interval or filter spans the hole,
        and its engine reports the gap): live, the transport's link losses arrive here as
        markers, as they do from a replayed recording, so both send the same events."""
        try:
            gap = Gap.from_marker(marker)
        except ValueError as exc:
            self.stats.bad_gap_markers += 1
            log.warning("unreadable gap marker at %d ns: %s", marker.gateway_time_ns, exc)
            return
        self.pipeline.report_gap(gap.device_id, gap.as_stream_gap())

    def take_notices(self) -> list[Event]:
        """Events that belong to no window (a stream's start, a gap), to send before the
        windows."""
        return self.pipeline.take_notices()

    def finish(self) -> list[ClosedWindow]:
        """The source ended: close the windows the data covers."""
        return self.pipeline.finish()
