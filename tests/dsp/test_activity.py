"""ENMO and the per-window activity summary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.activity import activity_summary, enmo_g


def test_enmo_removes_gravity_and_clips() -> None:
    acc = np.array([[0.0, 0.0, 1.0], [0.0, 0.6, 0.8], [0.0, 0.0, 0.5], [0.0, 1.2, 1.6]])
    np.testing.assert_allclose(enmo_g(acc), [0.0, 0.0, 0.0, 1.0], atol=1e-12)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        enmo_g(np.zeros((4, 2)))


def test_summary_uses_one_second_epochs() -> None:
    fs = 10.0
    rest = np.tile([0.0, 0.0, 1.0], (50, 1))  # 5 s still
    moving = np.tile([0.0, 0.0, 1.3], (30, 1))  # 3 s at 0.3 g ENMO
    spike = rest.copy()[:20]
    spike[3] = [0.0, 0.0, 3.0]  # one 2 g sample: 0.2 g over its epoch
    summary = activity_summary(np.vstack([rest, moving, spike]), fs)
    assert summary.mean_enmo_g == pytest.approx((30 * 0.3 + 2.0) / 100)
    assert summary.max_enmo_g == pytest.approx(0.3)
    assert summary.motion_fraction == pytest.approx(4 / 10)  # 3 moving epochs + the spike epoch
    assert activity_summary(
        np.vstack([rest, moving, spike]), fs, motion_threshold_g=0.25
    ).motion_fraction == pytest.approx(3 / 10)


def test_summary_edge_cases() -> None:
    empty = activity_summary(np.zeros((0, 3)), 25.0)
    assert math.isnan(empty.mean_enmo_g)
    short = activity_summary(np.tile([0.0, 0.0, 1.5], (7, 1)), 25.0)  # shorter than one epoch
    assert short.motion_fraction == 1.0
    assert short.max_enmo_g == pytest.approx(0.5)
    with pytest.raises(ValueError, match="positive"):
        activity_summary(np.zeros((3, 3)), 0.0)
