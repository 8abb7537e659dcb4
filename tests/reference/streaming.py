"""Reference stages for dsp.streaming's engine: each stream's shipped stage, holding its
samples in the reference SampleBuffer, so every window takes the stage's step-by-step path
(the one-call kernels read a StreamBuffer's rows and hand over on anything else).

Passed to FeaturePipeline(stages=...) or Engine(stages=...), they let a test run the same
recording through both paths of one engine, with no switch in the shipped code."""

from __future__ import annotations

from functools import partial

from dsp.streaming import STAGES, CountStage
from dsp.streaming.gaps import GapLog
from tests.reference.sample_buffer import SampleBuffer


def _on_sample_buffer(kind: type[CountStage], gaps: GapLog) -> CountStage:
    return kind(gaps, SampleBuffer(kind.CHANNELS))


#: stream name -> a factory of its stage on the reference buffer
REFERENCE_STAGES = {name: partial(_on_sample_buffer, kind) for name, kind in STAGES.items()}
