"""The optimised gateway DSP gives the windows the former (reference) implementations gave.

Each fused kernel that replaced a chain of numpy calls keeps that chain as a ``*_reference``
(the dsp ones that only tests use are in tests/reference/);
here the whole FeaturePipeline runs twice on the same synthetic recording (bench/dsp_bench.py's
hour generator, cut to 20 min: ECG 130 Hz, EDA 4 Hz, ACC 25 Hz), once as shipped and once with
the references patched in, and every window's readable features and model features must
agree to REL_TOL (float rounding; the kernels reassociate sums): all 38 when the ECG stage is
made to compute every one, the 33 without the Welch spectrum when it computes what the shipped
model takes (no spectral HRV).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from dsp.ecg import stream as ecg_stream
from dsp.streaming import STAGES
from dsp.streaming import acc as pipeline_acc
from dsp.streaming import beat_kernels as pipeline_beat_kernels
from dsp.streaming import beats as pipeline_beats
from dsp.streaming import eda_kernels as pipeline_eda_kernels
from dsp.streaming import eda_traces as pipeline_eda
from dsp.streaming import gaps as streaming_gaps
from dsp.streaming import rr as pipeline_rr
from dsp.streaming import stages as streaming_stages
from dsp.streaming.engine import StageFactory
from dsp.stress import features as stress_features
from dsp.stress import features_eda as stress_features_eda
from tests.helpers import dsp_bench
from tests.reference import stress as reference_stress
from tests.reference.streaming import REFERENCE_STAGES
from vagus.config import WindowSettings
from vagus.pipeline import FeaturePipeline

REL_TOL = 1e-9
ABS_TOL = 1e-9


def _windows(
    blocks: list[tuple[int, Any]], stages: Mapping[str, StageFactory] = STAGES
) -> list[tuple[dict[str, Any], dict[str, float]]]:
    pipeline = FeaturePipeline(
        patient_id="p", producer_id="t", windows=WindowSettings(), stages=stages
    )
    closed = []
    for arrival_ns, block in blocks:
        pipeline.add(block)
        closed += pipeline.advance(arrival_ns)
    closed += pipeline.finish()
    return [(msgspec.structs.asdict(c.window.features), c.window.model_features) for c in closed]


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL) or (
            math.isnan(a) and math.isnan(b)
        )
    return a == b


@pytest.fixture(scope="module")
def blocks() -> list[tuple[int, Any]]:
    result: list[tuple[int, Any]] = dsp_bench()._gateway_blocks(1200.0)
    return result


@pytest.mark.parametrize("every_feature", [True, False])
def test_optimised_windows_equal_reference_windows(
    blocks: list[tuple[int, Any]], monkeypatch: pytest.MonkeyPatch, every_feature: bool
) -> None:
    if every_feature:  # the ECG stage ignores what the model wants: the Welch path runs too
        monkeypatch.setattr(streaming_stages.EcgStage, "want", lambda self, features: None)
    expected = set(stress_features.FEATURE_NAMES)
    if not every_feature:
        expected -= set(stress_features.SPECTRAL_HRV_FEATURES)
    optimised = _windows(blocks)
    monkeypatch.setattr(
        stress_features,
        "hrv_frequency_features",
        reference_stress.hrv_frequency_features_reference,
    )
    monkeypatch.setattr(pipeline_rr, "rr_series", pipeline_rr.rr_series_reference)
    monkeypatch.setattr(streaming_stages, "_skin", streaming_stages._skin_reference)
    monkeypatch.setattr(streaming_stages, "heart_features", pipeline_rr.heart_features_reference)
    monkeypatch.setattr(stress_features_eda, "model_scrs", reference_stress.model_scrs_reference)
    monkeypatch.setattr(streaming_stages, "acc_window", pipeline_acc.acc_window_reference)
    monkeypatch.setattr(pipeline_eda, "eda_features", stress_features_eda.eda_features_reference)
    monkeypatch.setattr(
        pipeline_eda, "aligned_traces", pipeline_eda_kernels.aligned_traces_reference
    )
    monkeypatch.setattr(pipeline_beats, "detect_step", ecg_stream.detect_step_reference)
    monkeypatch.setattr(
        streaming_gaps, "jump_steps_kernel", pipeline_beat_kernels.jump_steps_reference
    )
    monkeypatch.setattr(pipeline_eda, "eda_run_kernel", pipeline_eda_kernels.eda_run_reference)
    reference = _windows(blocks, REFERENCE_STAGES)  # the reference buffer: no one-call paths
    assert len(optimised) == len(reference) > 100
    scored = 0
    for (feat, model), (feat_ref, model_ref) in zip(optimised, reference, strict=True):
        assert feat.keys() == feat_ref.keys()
        assert all(_close(feat[k], feat_ref[k]) for k in feat), (feat, feat_ref)
        assert model.keys() == model_ref.keys()
        assert all(_close(model[k], model_ref[k]) for k in model), (model, model_ref)
        assert model.keys() <= expected
        scored += model.keys() == expected
    assert scored > 60  # windows after the 180 s look-back carry every expected feature
