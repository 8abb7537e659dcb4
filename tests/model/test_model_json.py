"""`vagus model train --json`: the headline figures all describe one model, the default."""

from __future__ import annotations

from typing import Any

from vagus.config import StressModelSettings
from vagus.model.cli import CROSS_DATASET_VARIANT, HEADLINE_NESTED, json_summary
from vagus.model.train import VARIANT_SETTINGS
from vagus.scoring import bundled_model


def _nested(accuracy: float, worst: str) -> dict[str, Any]:
    return {
        "accuracy": accuracy,
        "macro_f1": accuracy - 0.01,
        "worst_subject": worst,
        "worst_subject_accuracy": accuracy - 0.2,
        "worst_subject_windows": 30,
        "ece": 0.05,
        "ci95": {
            "accuracy": [accuracy - 0.06, accuracy + 0.05],
            "macro_f1": [accuracy - 0.08, accuracy + 0.04],
            "ece": [0.03, 0.12],
            "method": "bootstrap",
        },
        "ece_bins": "10",
        "per_subject": {worst: {"accuracy": accuracy - 0.2}},
        "choices": {worst: {"subset": "x"}},
    }


def test_the_headline_is_the_default_models_nested_and_cross_dataset_figures() -> None:
    assert bundled_model(StressModelSettings()) == bundled_model(
        VARIANT_SETTINGS[CROSS_DATASET_VARIANT]
    )  # the model the cross-data-set figure replays is the one a patient gets by default
    published = {"accuracy": 0.77, "macro_f1": 0.73, "windows": 402, "subjects": ["S02"]}
    report: dict[str, Any] = {
        "nested": {
            "protocol": "runtime",
            HEADLINE_NESTED: _nested(0.88, "S10"),
            "runtime_protocol": _nested(0.91, "S11"),
            f"gateway_replay_{CROSS_DATASET_VARIANT}": {"published_labels": published},
        },
        "evaluation": {name: {"overall": {}} for name in ("logistic", "boosting")},
        "with_temperature": {},
    }
    summary = json_summary(report)
    assert (summary["nested_loso_accuracy"], summary["worst_subject"]) == (0.88, "S10")
    assert summary["per_subject"] == {"S10": {"accuracy": 0.88 - 0.2}}
    assert summary["nested_loso_accuracy_ci95"] == [0.88 - 0.06, 0.88 + 0.05]
    assert summary["with_heart_nested_loso_accuracy_ci95"] == [0.91 - 0.06, 0.91 + 0.05]
    assert (summary["with_heart_nested_loso_accuracy"], summary["with_heart_worst_subject"]) == (
        0.91,
        "S11",
    )
    assert summary["cross_dataset_accuracy"] == 0.77
    assert "runtime_protocol" in summary["nested"] and HEADLINE_NESTED not in summary["nested"]
    assert "no_heart" in summary["headline_model"]
