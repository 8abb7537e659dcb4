"""Write the validated procedure's final fit as the gateway's .tflite and its JSON sidecar.

What ships is what the nested figures evaluate (issue 15): ``nested.final_fit`` under the runtime
protocol, a regularised logistic regression on a few features. It is one FULLY_CONNECTED layer
(k inputs, 1 output) and a LOGISTIC, with the Platt map folded into the layer (w' = a w,
b' = a b + c), so the file returns the calibrated probability ``Choice.probability`` gives; the
sidecar lists only the chosen features, in the order of the weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dsp.stress import SCALE_FLOORS
from dsp.stress.model import NO_BEATS, WRIST, takes_motion
from vagus.model.dataset import CLIP, LOG_TRANSFORMED, MIN_SD, Dataset
from vagus.model.nested import CALIBRATION_WINDOWS, Choice
from vagus.model.report_keys import (
    CROSS_KEY,
    NO_HEART_ROBUST_KEY,
    POOLED,
    PUBLISHED_KEY,
    ROBUST_KEY,
    RUNTIME_KEY,
    WITHOUT_HEART_KEY,
    replay_key,
)
from vagus.model.tflite_writer import Layer, write_mlp

FORMAT = "vagus-stress-model/1"
KIND = "logistic regression"
NORMALISATION = (
    f"per-patient z-score against the first {CALIBRATION_WINDOWS} usable 60 s windows "
    "(calibration period), mean, SD ddof=1, the scale never under the input's floor"
)
ROBUST_NORMALISATION = (
    f"per-patient z-score against the first {CALIBRATION_WINDOWS} usable 60 s windows "
    "(calibration period), median, 1.4826 x MAD, the scale never under the input's floor"
)
#: file name, nested-figure key and cross-data-set key of each bundled model
FILES = {
    "mean_sd": ("stress_model.tflite", RUNTIME_KEY, f"{CROSS_KEY}_with_heart"),
    "median_mad": (
        "stress_model_robust.tflite",
        ROBUST_KEY,
        f"{CROSS_KEY}_with_heart_{ROBUST_KEY}",
    ),
    "no_heart": ("stress_model_no_heart.tflite", WITHOUT_HEART_KEY, f"{CROSS_KEY}_without_heart"),
    "no_heart_robust": (
        "stress_model_no_heart_robust.tflite",
        NO_HEART_ROBUST_KEY,
        f"{CROSS_KEY}_without_heart_{ROBUST_KEY}",
    ),
}
Variant = Literal["mean_sd", "median_mad", "no_heart", "no_heart_robust"]
DESCRIPTION = "vagus stress logistic regression (WESAD, non-commercial academic use)"


def logistic_layer(choice: Choice) -> Layer:
    """The fitted weights with the Platt map folded in: one (k, 1) layer, no hidden layer."""
    slope, intercept = choice.platt
    weights = slope * np.asarray(choice.weights, dtype=np.float64)[:, None]
    return weights, np.array([slope * choice.bias + intercept])


def summary(choice: Choice) -> dict[str, Any]:
    """What was exported, JSON-ready (the training report and `--json` carry it)."""
    return {
        "kind": KIND,
        "subset": choice.subset,
        "features": list(choice.features),
        "C": choice.strength,
        "threshold": choice.threshold,
        "platt_slope": choice.platt[0],
        "platt_intercept": choice.platt[1],
    }


def validation(figures: dict[str, Any], variant: Variant = "mean_sd") -> dict[str, Any]:
    """The nested figures from nested.report that describe the file, with what a stressor
    inside the calibration does to them (where measured) and its Stress-Predict figures."""
    _, key, cross_key = FILES[variant]
    runtime = figures[key]
    poisoned = figures.get("poisoned_5" + ("" if key == RUNTIME_KEY else f"_{key}"))
    cross = figures.get(cross_key, {}).get(POOLED)
    replay = figures.get(replay_key(variant), {})
    replayed = replay.get(POOLED)
    return {
        "method": "nested leave-one-subject-out of the model-building procedure "
        "(vagus/model/nested.py); this file is that procedure fitted on every subject",
        "protocol": figures["protocol"],
        "accuracy": runtime["accuracy"],
        "macro_f1": runtime["macro_f1"],
        "worst_subject": runtime["worst_subject"],
        "worst_subject_accuracy": runtime["worst_subject_accuracy"],
        "worst_subject_windows": runtime["worst_subject_windows"],
        "ece": runtime["ece"],
        "ece_bins": runtime["ece_bins"],
        "ci95": runtime["ci95"],
        "windows": sum(m["windows"] for m in runtime["per_subject"].values()),
        "stressor_in_calibration": None
        if poisoned is None
        else {
            "protocol": "5 of the 20 calibration windows are stress windows",
            "accuracy": poisoned["accuracy"],
            "macro_f1": poisoned["macro_f1"],
            "worst_subject_accuracy": poisoned["worst_subject_accuracy"],
            "ece": poisoned["ece"],
        },
        # None: the folder was absent
        "stress_predict": None
        if cross is None and replayed is None
        else {
            "gateway_replay": replayed,  # this file through the gateway's own signal path
            # the same, over the wearers whose labels the study published (the headline)
            "gateway_replay_published_labels": replay.get(PUBLISHED_KEY),
            "first_20_windows_60s": cross,  # the nested protocol's windows and calibration
        },
    }


def sidecar(
    choice: Choice,
    data: Dataset,
    training_file: str,
    figures: dict[str, Any],
    comparison: dict[str, Any],
    *,
    variant: Variant = "mean_sd",
) -> dict[str, Any]:
    """The vagus-stress-model/1 sidecar; ``comparison`` holds figures of models that do not ship;
    ``variant`` says which of the bundled models this is."""
    columns = dict(zip(data.features, data.columns, strict=True))
    name = FILES[variant][0]
    estimator = "median_mad" if variant in ("median_mad", "no_heart_robust") else "mean_sd"
    method = NORMALISATION if estimator == "mean_sd" else ROBUST_NORMALISATION
    return {
        "format": FORMAT,
        "model": name,
        "features": [
            {
                "name": name,
                "source_column": columns[name],
                "transform": "log" if columns[name] in LOG_TRANSFORMED else None,
            }
            for name in choice.features
        ],
        "normalisation": {
            "method": method,
            "estimator": estimator,
            "clip": CLIP,
            "min_sd": MIN_SD,
            # the scale floors training used, in each input's own units (the runtime's too)
            "scale_floors": {n: SCALE_FLOORS[n] for n in choice.features if n in SCALE_FLOORS},
        },
        "calibration": {
            "method": "platt",
            "slope": choice.platt[0],
            "intercept": choice.platt[1],
            "folded_into_output_layer": True,
        },
        "threshold": choice.threshold,
        # WESAD's heart features come from E4 BVP beats; "none": the model reads no heart data
        "beat_source": NO_BEATS if variant.startswith("no_heart") else "pulse",
        # WESAD's motion comes from the E4's accelerometer, on the wrist; none: no motion input
        **({"motion_site": WRIST} if takes_motion(choice.features) else {}),
        "architecture": {"hidden": [], "kind": KIND, "C": choice.strength, "subset": choice.subset},
        "validation": validation(figures, variant),
        "training_data": {
            "file": training_file,
            "sha256": data.sha256,
            "windows": len(data.stress),
            "fitted_windows": int(data.plausible.sum()),
            "subjects": sorted(set(data.subjects.tolist())),
        },
        "comparison_not_shipped": comparison,
        "licence": "inherits WESAD: non-commercial academic use only",
    }


def write(out_dir: Path, choice: Choice, described: dict[str, Any]) -> Path:
    """stress_model.tflite and stress_model.json into ``out_dir``; returns the .tflite's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tflite_path = out_dir / str(described["model"])
    write_mlp([logistic_layer(choice)], tflite_path, DESCRIPTION)
    text = json.dumps(described, indent=2) + "\n"
    tflite_path.with_suffix(".json").write_text(text, encoding="utf-8")
    return tflite_path
