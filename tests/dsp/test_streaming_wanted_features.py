"""An engine told which model features its windows need skips the Welch spectrum when no
spectral HRV feature is among them, and changes nothing else: every other feature keeps its
value, on the one-call path and on the reference stages' step-by-step path alike."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pytest

from dsp.streaming import STAGES, Engine
from dsp.streaming.engine import StageFactory
from dsp.stress.features import SPECTRAL_HRV_FEATURES
from tests.helpers import dsp_bench
from tests.reference.streaming import REFERENCE_STAGES
from vagus.config import WindowSettings

SHIPPED_INPUTS = (
    "scl_mean", "scl_slope", "scr_peak_count", "scr_amplitude_sum",
    "hrv_mean_rr", "hrv_rmssd", "acc_magnitude_std",
)  # fmt: skip


@pytest.fixture(scope="module")
def blocks() -> list[tuple[int, Any]]:
    result: list[tuple[int, Any]] = dsp_bench()._gateway_blocks(600.0)
    return result


def _model_features(
    blocks: list[tuple[int, Any]],
    features: Collection[str] | None,
    stages: Mapping[str, StageFactory],
) -> list[dict[str, float]]:
    settings = WindowSettings()
    engine = Engine(
        window_s=settings.window_s,
        hop_s=settings.hop_s,
        lateness_s=settings.lateness_s,
        stages=stages,
        features=features,
    )
    results = []
    for arrival_ns, block in blocks:
        engine.add(block.stream, block.times_ns, block.values, block.rate_hz)
        results += engine.advance(arrival_ns)
    results += engine.finish()
    return [r.model_features for r in results]


@pytest.mark.parametrize("stages", [STAGES, REFERENCE_STAGES], ids=["one-call", "reference"])
def test_no_spectrum_unless_a_spectral_feature_is_wanted(
    blocks: list[tuple[int, Any]], stages: Mapping[str, StageFactory]
) -> None:
    every = _model_features(blocks, None, stages)
    spectral_wanted = _model_features(blocks, (*SHIPPED_INPUTS, "hrv_lf_power"), stages)
    shipped = _model_features(blocks, SHIPPED_INPUTS, stages)
    assert spectral_wanted == every
    with_spectrum = [w for w in every if "hrv_lf_power" in w]
    assert len(with_spectrum) > 20  # windows after the 180 s look-back
    for full, lean in zip(every, shipped, strict=True):
        assert not lean.keys() & set(SPECTRAL_HRV_FEATURES)
        assert lean == {k: v for k, v in full.items() if k not in SPECTRAL_HRV_FEATURES}
