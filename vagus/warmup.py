"""Compile (or load) the gateway's DSP kernels before the first device connects.

numba compiles a kernel the first time it is called and caches the result next to the source.
Without that cache (a fresh install, a new version, a read-only tree) the first window to close
compiles every kernel it touches (about a minute on the development machine: docs/pipeline.md),
with the event loop blocked and the devices' notifications piling up behind it. warm_up runs a
few minutes of synthetic strap ECG, EDA and accelerometer data through a throw-away
FeaturePipeline first, so that cost is paid before any device is read; with the cache present
it takes a fraction of a second. The pipeline keeps no state on disk.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.decoding import SampleBlock
from vagus.config import WindowSettings
from vagus.pipeline import ClosedWindow, FeaturePipeline

NS = 1_000_000_000
#: Enough for the 180 s look-back of the model's HRV and a few windows after it.
WARM_UP_S = 240.0
_T0_NS = 1_000_000 * NS
_STREAMS = (("ecg", 130.0, 73, "uV"), ("eda", 4.0, 4, "uS"), ("acc", 25.0, 25, "mG"))


@dataclass(frozen=True, slots=True)
class WarmUp:
    windows: int
    #: the most model features one window had (all the model's stages compute when every
    #: stream's path ran in full: 33 for the bundled model, which takes no spectral HRV)
    model_features: int
    seconds: float


def warm_up(windows: WindowSettings | None = None) -> WarmUp:
    """Run WARM_UP_S of synthetic data through a pipeline with these window settings."""
    started = time.perf_counter()
    pipeline = FeaturePipeline(
        patient_id="p-000000000000",
        producer_id="warm-up",
        windows=windows if windows is not None else WindowSettings(),
        quality_refresh_s=None,
    )
    closed: list[ClosedWindow] = []
    # measured where the model's motion was, so the scorer takes it without a word
    for block in _blocks(WARM_UP_S, pipeline.scorer.model.motion_site):
        pipeline.add(block)
        closed += pipeline.advance(int(block.times_ns[-1]))
    closed += pipeline.finish()
    # Scoring's own kernels run only once a baseline is learnt, hours in: call them here.
    scorer = pipeline.scorer
    z = scorer.baseline.z_scores(np.zeros(len(scorer.model.features)))
    scorer.model.probability(z.astype(np.float32)[None, :])
    most = max((len(c.window.model_features) for c in closed), default=0)
    return WarmUp(windows=len(closed), model_features=most, seconds=time.perf_counter() - started)


def _blocks(seconds: float, site: str | None) -> list[SampleBlock]:
    """Notification-sized blocks of every stream, in time order, from one device at ``site``."""
    rng = np.random.default_rng(0)
    blocks = []
    for stream, rate, per, unit in _STREAMS:
        values = _signal(stream, seconds, rate, rng)
        times = _T0_NS + (np.arange(len(values)) * (NS / rate)).astype(np.int64)
        for i in range(0, len(values), per):
            part = slice(i, i + per)
            blocks.append(
                SampleBlock("d-warmup00", stream, times[part], values[part], unit, rate, site)
            )
    blocks.sort(key=lambda b: int(b.times_ns[-1]))
    return blocks


def _signal(
    stream: str, seconds: float, rate: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    if stream == "ecg":  # narrow R waves at a gently varying rate of about 75/min
        x = rng.normal(0.0, 20.0, n)
        beat = 0.3
        while beat < seconds - 0.5:
            near = slice(int((beat - 0.1) * rate), int((beat + 0.1) * rate))
            x[near] += 1200.0 * np.exp(-0.5 * ((t[near] - beat) / 0.012) ** 2)
            beat += 0.8 + 0.05 * math.sin(2 * math.pi * beat / 10.0)
        return x
    if stream == "eda":  # a slow level with a few responses
        responses = 0.2 * (np.sin(2 * np.pi * t / 30.0) > 0.9)
        return 4.0 + 0.5 * np.sin(2 * np.pi * t / 120.0) + responses
    return np.column_stack(  # accelerometer at rest, in mg
        [rng.normal(0, 30, n), rng.normal(0, 30, n), 1000 + rng.normal(0, 30, n)]
    )
