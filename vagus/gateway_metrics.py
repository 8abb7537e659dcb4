"""The gateway's and the worker's metrics, read from the counters they keep (vagus.metrics).

Names are documented in docs/observability.md; each is prefixed ``vagus_gateway_`` or
``vagus_worker_``. Devices are labelled with their pseudonymous id and profile only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from vagus.metrics import LoopLag, Metric

if TYPE_CHECKING:
    from closedloop.stats import LoopStats
    from ingest.transport.manager import Transport
    from vagus.gateway import Gateway

__all__ = ["gateway_metrics", "worker_metrics"]

NS = 1_000_000_000


def gateway_metrics(gateway: Gateway, transport: Transport, lag: LoopLag) -> list[Metric]:
    stats = gateway.stats
    producer = gateway.producer
    decoders = gateway.driver.decoders
    spool = producer.spool.stats
    devices = [(s, {"device": s.device_id or "unseen", "profile": s.profile}) for s in
               transport.statuses()]  # fmt: skip
    sessions = Counter(o.status for o in stats.outcomes)
    oldest = spool.oldest_spooled_at_ns
    reachable = producer.broker_reachable
    g = "vagus_gateway_"
    return [
        Metric.one(f"{g}notifications_total", "counter", "BLE notifications received",
                   stats.notifications),
        Metric(f"{g}decode_errors_total", "counter", "notifications that failed to decode",
               [({"kind": kind}, n) for kind, n in sorted(stats.decode_errors.items())]),
        Metric(f"{g}refused_samples_total", "counter",
               "values a device marked invalid itself, left out of its stream",
               [({"device": d}, n) for d, n in sorted(decoders.refused_samples().items())]),
        Metric(f"{g}clock_corrections_total", "counter",
               "sample blocks moved forward because a device's clock went back",
               [({"device": d}, n) for d, n in sorted(decoders.clock_corrections().items())]),
        Metric.one(f"{g}windows_total", "counter", "feature windows closed",
                   gateway.pipeline.counters.windows),
        Metric.one(f"{g}stream_gaps_total", "counter", "stream_gap events sent",
                   gateway.pipeline.counters.stream_gaps),
        Metric(f"{g}kept_out_blocks_total", "counter",
               "notifications of a stream another device feeds, kept out of the features",
               [({"stream": st, "device": d}, n)
                for (st, d), n in sorted(gateway.pipeline.kept_out.items())]),
        Metric(f"{g}device_connected", "gauge", "1 while the device's BLE link is up",
               [(labels, float(s.connected)) for s, labels in devices]),
        Metric(f"{g}ble_reconnects_total", "counter", "connections after the first",
               [(labels, max(0, s.connections - 1)) for s, labels in devices]),
        Metric(f"{g}device_gaps_total", "counter", "gaps the transport saw (link losses)",
               [(labels, s.gaps) for s, labels in devices]),
        Metric.one(f"{g}ble_stall_seconds", "gauge",
                   "seconds since the least recently progressing BLE session moved on",
                   transport.longest_stall_s()),
        Metric.one(f"{g}clock_lead_seconds", "gauge",
                   "how far arrival stamps run ahead of the wall clock after it stepped back",
                   transport.stamp.lead_ns / NS),
        Metric.one(f"{g}spool_events", "gauge", "events waiting in the disk spool", spool.events),
        Metric.one(f"{g}spool_bytes", "gauge", "bytes in the disk spool", spool.bytes),
        Metric.one(f"{g}spool_oldest_age_seconds", "gauge",
                   "age of the oldest spooled event (absent when empty)",
                   None if oldest is None else max(0.0, (time.time_ns() - oldest) / NS)),
        Metric.one(f"{g}spool_evicted_total", "counter", "events evicted from a full spool",
                   producer.spool.losses.evicted),
        Metric.one(f"{g}spool_held_events", "gauge",
                   "events the disk refused to spool, held in memory", len(producer.held)),
        Metric.one(f"{g}spool_held_lost_total", "counter",
                   "held events dropped while the disk kept refusing", producer.held.lost),
        Metric.one(f"{g}broker_reachable", "gauge", "1 when the last send reached the broker",
                   None if reachable is None else float(reachable)),
        Metric.one(f"{g}broker_refusing_writes", "gauge",
                   "1 while the broker refuses this gateway's writes (its ACLs)",
                   float(producer.refusal is not None)),
        Metric.one(f"{g}events_delivered_total", "counter", "events the broker acknowledged",
                   producer.delivered),
        Metric.one(f"{g}broker_outages_total", "counter", "times the broker became unreachable",
                   producer.outages),
        Metric.one(f"{g}decisions_total", "counter", "loop decisions received",
                   stats.decisions),
        Metric(f"{g}session_outcomes_total", "counter", "intervention outcomes by status",
               [({"status": status}, n) for status, n in sorted(sessions.items())]),
        Metric.one(f"{g}event_loop_lag_seconds", "gauge",
                   "largest lateness of a 0.25 s timer since the last scrape", lag.take_worst()),
    ]  # fmt: skip


def worker_metrics(
    stats: LoopStats, lag: LoopLag, input_lag: Mapping[str, int], now_s: float
) -> list[Metric]:
    w = "vagus_worker_"
    saved_at = stats.state_saved_at
    return [
        Metric.one(f"{w}events_admitted_total", "counter", "input events admitted",
                   stats.admitted),
        Metric.one(f"{w}duplicates_total", "counter", "inputs seen before", stats.duplicates),
        Metric.one(f"{w}dead_lettered_total", "counter", "inputs dead-lettered",
                   stats.dead_lettered),
        Metric(f"{w}signature_rejected_total", "counter", "inputs refused by signature",
               [({"reason": r}, n) for r, n in sorted(stats.signature_rejected_by_reason.items())]),
        Metric.one(f"{w}outputs_total", "counter", "decisions, commands and evaluations sent",
                   stats.produced_count),
        Metric.one(f"{w}commands_total", "counter", "session commands sent", stats.commands),
        Metric.one(f"{w}failed_deliveries_total", "counter", "outputs the broker never took",
                   stats.failed_deliveries),
        Metric.one(f"{w}ready", "gauge", "1 once partitions are assigned", float(stats.ready)),
        Metric.one(f"{w}event_loop_lag_seconds", "gauge",
                   "largest lateness of a 0.25 s timer since the last scrape", lag.take_worst()),
        Metric(f"{w}consumer_lag_records", "gauge",
               "records waiting on this worker's input partitions",
               [({"topic": topic}, n) for topic, n in sorted(input_lag.items())]),
        Metric.one(f"{w}state_snapshot_age_seconds", "gauge",
                   "seconds since every changed patient's state was last on the broker",
                   None if saved_at is None else max(0.0, now_s - saved_at)),
    ]  # fmt: skip
