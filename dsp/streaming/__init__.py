"""The streaming engine: samples of live or replayed streams in, one typed result per closed
window out (readable features, the stress model's inputs, coverage per stream), on data time.

It sits above every signal family (it runs ecg's detector, hrv's intervals, eda's traces and
the stress model's feature definitions window after window) and knows nothing of events,
Kafka or BLE: the gateway's adapter (vagus.pipeline) turns its results into events."""

from dsp.streaming.beats import BeatTracker, GapLog
from dsp.streaming.buffer import SampleSource, StreamBuffer
from dsp.streaming.signals import (
    HISTORY_S,
    LOOKAHEAD_S,
    NOMINAL_RATE_HZ,
    SignalState,
    WindowSignals,
    window_signals,
)

__all__ = [
    "HISTORY_S",
    "LOOKAHEAD_S",
    "NOMINAL_RATE_HZ",
    "BeatTracker",
    "GapLog",
    "SampleSource",
    "SignalState",
    "StreamBuffer",
    "WindowSignals",
    "window_signals",
]
