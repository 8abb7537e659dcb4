"""The bundled scorers' stated accuracy, for the console's patient page (console.scorer_facts).

Read from each bundled model's sidecar, which `vagus model train` writes with the .tflite it
describes, so the page can only quote figures that were measured for that very file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console.scorer_facts import Figure, ScorerFacts
from vagus.scoring import BUNDLED_METHODS

#: What a feature's name says it reads, in words (dsp.stress feature names).
_READS = (("scl_", "skin conductance"), ("scr_", "skin conductance"), ("hrv_", "heart rate"))


def _reads(features: list[dict[str, Any]], motion_site: str | None) -> str:
    names = [str(f["name"]) for f in features]
    words: list[str] = []
    for prefix, word in _READS:
        if any(n.startswith(prefix) for n in names) and word not in words:
            words.append(word)
    if any(n.startswith("acc_") for n in names):
        words.append(f"{motion_site or 'wrist'} motion")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _figure(validation: dict[str, Any], key: str) -> Figure:
    interval = validation.get("ci95", {}).get(key)
    return Figure(float(validation[key]), None if interval is None else tuple(interval))


def read_sidecar(model: Path) -> dict[str, Any]:
    """A bundled model's sidecar (``model`` with the suffix .json)."""
    sidecar: dict[str, Any] = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    return sidecar


def scorer_facts(method: str, model: Path) -> ScorerFacts:
    """One bundled model's facts from its sidecar."""
    return facts_from_sidecar(method, read_sidecar(model))


def facts_from_sidecar(method: str, sidecar: dict[str, Any]) -> ScorerFacts:
    """The facts a sidecar states for the scorer ``method``."""
    validation = sidecar["validation"]
    subjects = len(sidecar["training_data"]["subjects"])
    replay = (validation.get("stress_predict") or {}).get("gateway_replay_published_labels") or {}
    wearers = len(replay.get("subjects", []))
    return ScorerFacts(
        method=method,
        reads=_reads(sidecar["features"], sidecar.get("motion_site")),
        training_data=f"WESAD's {subjects} subjects, Empatica E4 on the wrist",
        subjects=subjects,
        nested_accuracy=_figure(validation, "accuracy"),
        nested_macro_f1=_figure(validation, "macro_f1"),
        worst_subject_accuracy=float(validation["worst_subject_accuracy"]),
        worst_subject_windows=int(validation["worst_subject_windows"]),
        cross_dataset_accuracy=replay.get("accuracy"),
        cross_dataset=f"Stress-Predict ({wearers} labelled wearers, {replay.get('windows', 0)} "
        "windows, replayed through the gateway)",
        stressed_calibration_macro_f1=(validation.get("stressor_in_calibration") or {}).get(
            "macro_f1"
        ),
    )


def bundled_scorer_facts() -> dict[str, ScorerFacts]:
    """Facts for every bundled scorer, by the method its scores name."""
    return {method: scorer_facts(method, model) for method, model in BUNDLED_METHODS.items()}
