"""Two devices sending the same stream: one feeds the features at a time, never a mix.

The engine keeps one stage per stream name, so before this rule two devices' accelerometers
(both ``acc``, here on the chest and the arm) were sorted into one buffer, and their per-axis
SDs came out tens of times too large. Now the device that started the stream keeps it while it
sends; the other's samples are counted and said once, and take over only after the owner fell
silent for a window's length (a replaced strap).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ingest.decoding import SampleBlock
from vagus.config import WindowSettings
from vagus.pipeline import ClosedWindow, FeaturePipeline

NS = 1_000_000_000
START = 10**18
CHEST, ARM = "d-chest001", "d-arm00002"


def _acc(device: str, second: int, sd_mg: float, rng: np.random.Generator) -> SampleBlock:
    """One second of 25 Hz accelerometer (mg): a device still but for noise of ``sd_mg``."""
    times = START + second * NS + np.arange(25, dtype=np.int64) * (NS // 25)
    gravity = [30.0, -985.0, 160.0] if device == CHEST else [700.0, 100.0, -700.0]
    values = np.tile(gravity, (25, 1)) + rng.normal(0.0, sd_mg, (25, 3))
    return SampleBlock(device, "acc", times, values, "mG", 25.0)


def _run(seconds: dict[str, range]) -> tuple[FeaturePipeline, list[ClosedWindow]]:
    pipeline = FeaturePipeline(
        patient_id="p-7k3m9q2x4v8w", producer_id="t", windows=WindowSettings()
    )
    rngs = {CHEST: np.random.default_rng(1), ARM: np.random.default_rng(2)}
    closed: list[ClosedWindow] = []
    for second in range(max(max(r) for r in seconds.values()) + 1):
        for device, sd in ((CHEST, 5.0), (ARM, 80.0)):
            if second in seconds.get(device, range(0)):
                pipeline.add(_acc(device, second, sd, rngs[device]))
        closed += pipeline.advance(START + (second + 1) * NS)
    return pipeline, closed + pipeline.finish()


def _activity(closed: list[ClosedWindow]) -> list[float | None]:
    return [w.window.features.activity_enmo_g for w in closed]


def test_a_second_device_changes_nothing_while_the_first_sends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alone_pipeline, alone = _run({CHEST: range(300)})
    with caplog.at_level(logging.WARNING, logger="vagus.pipeline"):
        both_pipeline, both = _run({CHEST: range(300), ARM: range(300)})
    assert _activity(both) == _activity(alone) and len(both) >= 20
    assert both_pipeline.kept_out == {("acc", ARM): 300} and not alone_pipeline.kept_out
    said = [r.getMessage() for r in caplog.records if "kept out" in r.getMessage()]
    assert len(said) == 1 and ARM in said[0] and CHEST in said[0]


def test_the_stream_passes_to_the_device_still_sending_after_a_window_of_silence() -> None:
    pipeline, closed = _run({CHEST: range(120), ARM: range(300)})
    # kept out while the chest strap sends and for a window's length (60 s) after it stops
    assert pipeline.kept_out[("acc", ARM)] == 120 + 60
    by_end = {(w.window.window_end_ns - START) // NS: w.window.features for w in closed}
    still, moving = by_end[110].activity_enmo_g, by_end[290].activity_enmo_g
    assert still is not None and moving is not None and moving > 5 * still
