"""The streaming engine: samples of live or replayed streams in, one typed result per closed
window out (readable features, the stress model's inputs, coverage and quality per stream), on
the data's own time.

``Engine`` (engine) holds a ``WindowClock`` (clock) and one ``Stage`` per stream (stages: ECG
beats, RR and HRV; EDA; ACC; the strap's heart rate; any other stream is only counted), all with
the same four verbs: add samples, mark a gap, close a window, trim. It sits above every signal
family (it runs ecg's detector, hrv's intervals, eda's traces and the stress model's feature
definitions window after window) and knows nothing of events, Kafka or BLE: the gateway's
adapter (vagus.pipeline) turns its results into events."""

from dsp.streaming.beats import BeatTracker
from dsp.streaming.buffer import SampleSource, StreamBuffer
from dsp.streaming.clock import WindowClock
from dsp.streaming.engine import (
    GAP_SHARE_LIMIT,
    TRIM_EVERY,
    Engine,
    QualityKind,
    StreamQuality,
    WindowResult,
)
from dsp.streaming.gaps import (
    GAP_PERIODS,
    LINK,
    MIN_GAP_S,
    Gap,
    GapLog,
    GapReason,
    jump_limit_ns,
)
from dsp.streaming.stages import (
    HISTORY_S,
    LOOKAHEAD_S,
    STAGES,
    AccStage,
    CountStage,
    EcgStage,
    EdaStage,
    Stage,
    StageWindow,
    StrapHeartRateStage,
)

__all__ = [
    "GAP_PERIODS",
    "GAP_SHARE_LIMIT",
    "HISTORY_S",
    "LINK",
    "LOOKAHEAD_S",
    "MIN_GAP_S",
    "STAGES",
    "TRIM_EVERY",
    "AccStage",
    "BeatTracker",
    "CountStage",
    "EcgStage",
    "EdaStage",
    "Engine",
    "Gap",
    "GapLog",
    "GapReason",
    "QualityKind",
    "SampleSource",
    "Stage",
    "StageWindow",
    "StrapHeartRateStage",
    "StreamBuffer",
    "StreamQuality",
    "WindowClock",
    "WindowResult",
    "jump_limit_ns",
]
