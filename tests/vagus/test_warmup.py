"""The gateway's kernel warm-up takes every stream's one-call path, in full, before any device."""

from __future__ import annotations

import pytest

from dsp.streaming import stages
from dsp.stress.features import FEATURE_NAMES, SPECTRAL_HRV_FEATURES
from tests.helpers import count_results
from vagus.config import WindowSettings
from vagus.warmup import warm_up


def test_warm_up_runs_every_one_call_path_to_all_model_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ("ecg_window", "eda_window", "acc_window_rows")
    finished = count_results(monkeypatch, stages, names)
    result = warm_up()
    assert result.windows >= 10
    # heart, EDA and ACC: all 38 but the 5 spectral ones, which the bundled model does not take
    assert result.model_features == len(FEATURE_NAMES) - len(SPECTRAL_HRV_FEATURES) == 33
    assert all(count >= result.windows - 1 for count in finished.values()), finished


def test_warm_up_follows_the_configured_windows() -> None:
    assert warm_up(WindowSettings(window_s=30.0, hop_s=30.0, calibration_s=600.0)).windows < 10
