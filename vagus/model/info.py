"""`vagus model info`: which bundled model the configuration scores with, and how accurate it
was found to be, from its sidecar (no training data, no scikit-learn needed).

The same facts the console's patient page states (vagus.scorer_facts), plus what an engineer
checks before a deployment: the file, what it reads and from where, its threshold.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from vagus.config import StressModelSettings
from vagus.scorer_facts import facts_from_sidecar, read_sidecar
from vagus.scoring import BUNDLED_METHODS, bundled_model


def model_info(settings: StressModelSettings) -> dict[str, Any]:
    """The configured model's identity and stated accuracy, JSON-ready."""
    path = bundled_model(settings)
    method = next(m for m, p in BUNDLED_METHODS.items() if p == path)
    sidecar = read_sidecar(path)
    facts = asdict(facts_from_sidecar(method, sidecar))
    return {
        "method": method,
        "file": path.name,
        "settings": {"inputs": settings.inputs, "baseline": settings.baseline},
        "features": [f["name"] for f in sidecar["features"]],
        "motion_site": sidecar.get("motion_site"),
        "beat_source": sidecar.get("beat_source"),
        "threshold": settings.threshold if settings.threshold is not None else sidecar["threshold"],
        "threshold_from": "configuration" if settings.threshold is not None else "model",
        "calibration": sidecar["validation"]["protocol"],
        "ece": sidecar["validation"]["ece"],
        "ece_ci95": sidecar["validation"].get("ci95", {}).get("ece"),
        **{k: v for k, v in facts.items() if k != "method"},
    }


def _percent(figure: dict[str, Any]) -> str:
    text = f"{100 * figure['value']:.1f} %"
    if figure.get("interval"):
        low, high = figure["interval"]
        text += f" (95 % interval over subjects {100 * low:.1f} to {100 * high:.1f} %)"
    return text


def render_info(info: dict[str, Any]) -> str:
    """The facts in a few lines, the disclaimer last."""
    cross = info["cross_dataset_accuracy"]
    stressed = info["stressed_calibration_macro_f1"]
    return "\n".join(
        [
            f"scorer      {info['method']}  ({info['file']}; inputs {info['settings']['inputs']},"
            f" baseline {info['settings']['baseline']})",
            f"reads       {info['reads']}: {', '.join(info['features'])}",
            f"threshold   {info['threshold']:.2f} (from the {info['threshold_from']})",
            f"protocol    {info['calibration']}",
            f"nested LOSO {info['training_data']}: accuracy {_percent(info['nested_accuracy'])},"
            f" macro-F1 {info['nested_macro_f1']['value']:.3f}, worst subject"
            f" {100 * info['worst_subject_accuracy']:.1f} % of {info['worst_subject_windows']}"
            f" windows, ECE {info['ece']:.3f}",
            f"elsewhere   {info['cross_dataset']}: "
            + ("nothing scored" if cross is None else f"accuracy {100 * cross:.1f} %"),
            *(
                []
                if stressed is None
                else [
                    "stressed    with stress in a quarter of the calibration: macro-F1"
                    f" {stressed:.3f}"
                ]
            ),
            "A stress probability is an estimate, not a diagnosis: research software, not a "
            "medical device (docs/model-card.md).",
        ]
    )
