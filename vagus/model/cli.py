"""`vagus model train`: retrain from scratch, print the nested and comparison tables, write the
.tflite and sidecar of the nested procedure's final fit."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, Final

from vagus.commands.common import writable_folder
from vagus.model.report_keys import (
    CROSS_KEY,
    NO_HEART_ROBUST_KEY,
    POOLED,
    PUBLISHED_KEY,
    RUNTIME_KEY,
    WITHOUT_HEART_KEY,
    replay_key,
)

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "stress"
) / "wesad_wrist_features_60s.csv"
#: The bundled model the headline figures describe, nested and across data sets: the default
#: one ([stress_model] inputs = "without_heart"). It reads what every supported wearable gives
#: the way it was validated (skin conductance and motion). The model with heart data was trained
#: on WESAD's wrist-pulse beats, which the gateway's own pulse path never reproduced: on
#: Stress-Predict's E4 pulse it calibrates on no one, and on ECG beats it was never validated
#: (it refuses them); its figures are printed beside the headline (``with_heart_*``).
CROSS_DATASET_VARIANT: Final = "no_heart"
HEADLINE_NESTED = WITHOUT_HEART_KEY  # the nested report's key for the same procedure
CROSS_DATASET_MODEL = (
    "stress_model_no_heart (the default model, [stress_model] inputs = without_heart: skin "
    "conductance and motion)"
)
#: The bundled files replayed through the gateway on Stress-Predict, and their table titles.
REPLAYED = {
    "mean_sd": "stress_model (with heart data)",
    "median_mad": "stress_model_robust (with heart data, median/MAD baseline)",
    "no_heart": "stress_model_no_heart (inputs without_heart)",
    "no_heart_robust": "stress_model_no_heart_robust (inputs without_heart, median/MAD baseline)",
}
#: Columns vagus.model.dataset.load reads by name (besides the z_* and acc_* features).
REQUIRED_COLUMNS = (
    "subject_id",
    "time_end_sec",
    "label",
    "raw_label",
    "raw_hrv_mean_hr",
    "raw_hrv_rmssd",
)


def register(subparsers: Any) -> dict[str, Any]:
    """Register `model train` on the top-level subparsers of `vagus`."""
    model = subparsers.add_parser(
        "model",
        help="train and evaluate the stress model",
        description="Rebuild the bundled stress model from its training data and see how well "
        "it does (docs/model-card.md).",
    )
    commands = model.add_subparsers(dest="model_command", required=True)
    train = commands.add_parser(
        "train",
        help="nested leave-one-subject-out evaluation, comparisons and .tflite export",
        description="Evaluate the model-building procedure by nested leave-one-subject-out "
        "under the gateway's calibration protocol, then write its fit on all subjects as "
        "stress_model.tflite and its JSON sidecar (the model the nested figures describe), "
        "and its twin fitted on median/MAD calibrations as stress_model_robust.tflite. "
        "The former MLP and two baselines are evaluated leaving one subject out, with and "
        "without skin temperature, for comparison only. Use it after changing the features or "
        "the training data.",
    )
    train.add_argument("--data", type=Path, default=DEFAULT_DATA, help="WESAD feature CSV")
    train.add_argument(
        "--out",
        type=Path,
        default=Path("out/model"),
        help="where the two models and their .json go (vagus/data to refresh the bundled ones)",
    )
    train.add_argument("--json", action="store_true", help="last line: one JSON object")
    info = commands.add_parser(
        "info",
        help="the model the configuration scores with, and its stated accuracy",
        description="Print which bundled model [stress_model] selects (inputs, baseline), what "
        "it reads, its threshold, and the accuracy its sidecar states: nested "
        "leave-one-subject-out on WESAD with 95 %% intervals over subjects, and on "
        "Stress-Predict. Reads only the bundled files.",
    )
    info.add_argument("--json", action="store_true", help="one JSON object")
    return {"model": cmd_model}


def _row(label: str, m: dict[str, float]) -> str:
    return (
        f"| {label} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['auroc']:.3f} "
        f"| {m['brier']:.3f} |"
    )


def _three(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_nested(nested: dict[str, Any]) -> list[str]:
    """The nested LOSO and cross-data-set tables, printed first."""
    lines = [f"\n### Nested LOSO ({nested['protocol']})\n"]
    lines += [
        "| procedure | accuracy (95 % CI) | macro-F1 (95 % CI) | worst subject (windows) "
        "| ECE (95 % CI) |",
        "|---|---|---|---|---|",
    ]
    for key, title in (
        (HEADLINE_NESTED, "runtime protocol, no heart data (the default model)"),
        (
            f"poisoned_5_{HEADLINE_NESTED}",
            "no heart data, stressor in calibration (5 of 20 windows), mean/SD",
        ),
        (NO_HEART_ROBUST_KEY, "no heart data, median/MAD baseline"),
        (
            f"poisoned_5_{NO_HEART_ROBUST_KEY}",
            "no heart data, stressor in calibration (5 of 20 windows), median/MAD",
        ),
        (RUNTIME_KEY, "runtime protocol, with heart data"),
        ("short_calibration", "with heart data, 5-minute calibration"),
        ("robust_baseline", "with heart data, median/MAD baseline"),
        ("baseline_condition", "with heart data, baseline condition as calibration, every window"),
        ("poisoned_5", "with heart data, stressor in calibration (5 of 20 windows), mean/SD"),
        (
            "poisoned_5_robust_baseline",
            "with heart data, stressor in calibration (5 of 20 windows), median/MAD",
        ),
    ):
        m = nested[key]
        ci = m["ci95"]
        lines.append(
            f"| {title} | {_with_interval(m['accuracy'], ci['accuracy'])} "
            f"| {_with_interval(m['macro_f1'], ci['macro_f1'])} "
            f"| {m['worst_subject_accuracy']:.3f} ({m['worst_subject']}, "
            f"{m['worst_subject_windows']}) | {_with_interval(m['ece'], ci['ece'])} |"
        )
    lines += [
        "\n| subject | no heart data (default): accuracy | macro-F1 | with heart data: accuracy "
        "| macro-F1 | windows |",
        "|---|---|---|---|---|---|",
    ]
    default, heart = (
        nested[HEADLINE_NESTED]["per_subject"],
        nested[RUNTIME_KEY]["per_subject"],
    )
    for subject, m in default.items():
        h = heart[subject]
        lines.append(
            f"| {subject} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {h['accuracy']:.3f} "
            f"| {h['macro_f1']:.3f} | {m['windows']} |"
        )
    for name in ("with_heart", "without_heart"):
        final = nested[f"final_{name}"]
        lines.append(
            f"\nfitted on all subjects, {name.replace('_', ' ')}: {', '.join(final['features'])}; "
            f"C {final['C']}, threshold {final['threshold']:.2f}"
        )
        for suffix, protocol in (
            ("", ""),
            ("_short_calibration", ", 5-minute calibration"),
            ("_robust_baseline", ", median/MAD baseline"),
        ):
            title = f"Stress-Predict offline, 60 s windows, {name.replace('_', ' ')}{protocol}"
            lines += _cross_table(title, nested.get(f"{CROSS_KEY}_{name}{suffix}"))
    for variant, model in REPLAYED.items():
        title = (
            f"Stress-Predict through the gateway (vagus analyze), {model}: windows of 60 s "
            "every 10 s, 20-minute calibration"
        )
        lines += _cross_table(title, nested.get(replay_key(variant)))
    return lines


def _cross_table(title: str, cross: dict[str, Any] | None) -> list[str]:
    """One Stress-Predict table (none when that evaluation did not run)."""
    if cross is None:
        return []
    lines = [f"\n#### {title} ({cross['mapping']})\n"]
    lines += [
        "| subjects | accuracy | macro-F1 | windows | coverage |",
        "|---|---|---|---|---|",
    ]
    rows = {POOLED: cross[POOLED]} | cross["per_subject"]
    rows["without_hyperventilation"] = cross["without_hyperventilation"]
    published = cross[PUBLISHED_KEY]
    rows[f"labelled by the study ({', '.join(published['subjects']) or 'none'})"] = published
    for label, m in rows.items():
        coverage = f"{m['coverage']:.2f}" if "coverage" in m else "-"
        lines.append(
            f"| {label} | {_three(m['accuracy'])} | {_three(m['macro_f1'])} | {m['windows']} "
            f"| {coverage} |"
        )
    return lines


def render(report: dict[str, Any]) -> str:
    """Markdown tables, so the model card can quote a run verbatim."""
    head = "| {} | accuracy | macro-F1 | AUROC | Brier |\n|---|---|---|---|---|"
    lines = render_nested(report["nested"]) if "nested" in report else []
    lines.append(
        "\n### Comparison, not the shipped model: 38-feature MLP and baselines, LOSO without "
        "nesting of the feature choice, normalised against the baseline condition"
    )
    for variant, title in (("evaluation", "without"), ("with_temperature", "with")):
        lines += [
            f"\n### Comparison LOSO overall, {title} skin temperature\n",
            head.format("model"),
        ]
        for name, result in report[variant].items():
            lines.append(_row(name, result["overall"]))
            lines.append(_row(f"{name}, after calibration period", result["after_calibration"]))
    evaluation = report["evaluation"]
    lines += [
        "\n### Per subject, comparison MLP (threshold of its own fold)\n",
        head.format("subject"),
    ]
    per_subject = evaluation["mlp"]["per_subject"]
    lines += [_row(subject, m) for subject, m in per_subject.items()]
    for key in ("accuracy", "macro_f1", "auroc", "brier"):
        values = [m[key] for m in per_subject.values()]
        lines.append(
            f"\n{key} across subjects: mean {sum(values) / len(values):.3f}, "
            f"min {min(values):.3f}, max {max(values):.3f}"
        )
    lines += ["\n### Per-subject accuracy, baselines\n", "| subject | logistic | boosting |"]
    lines.append("|---|---|---|")
    for subject in per_subject:
        lines.append(
            f"| {subject} | {evaluation['logistic']['per_subject'][subject]['accuracy']:.3f} "
            f"| {evaluation['boosting']['per_subject'][subject]['accuracy']:.3f} |"
        )
    lines += ["\n### Reliability, comparison MLP (LOSO, pooled)\n"]
    lines += ["| bin | windows | mean predicted | observed stress |", "|---|---|---|---|"]
    lines += [
        f"| {b['bin']} | {b['windows']} | {b['mean_predicted']:.3f} | {b['observed_stress']:.3f} |"
        for b in evaluation["mlp"]["reliability"]
    ]
    exported = report["exported"]
    lines.append(
        f"\nexported (the nested procedure's final fit): {exported['kind']} on "
        f"{', '.join(exported['features'])} (subset {exported['subset']}), C {exported['C']}, "
        f"Platt slope {exported['platt_slope']:.3f} and intercept "
        f"{exported['platt_intercept']:.3f} folded in, threshold {exported['threshold']:.2f}; "
        f"{report['subjects']} subjects, {report['seconds']} s, written to {report['out_dir']}"
    )
    return "\n".join(lines)


def data_problem(path: Path) -> str | None:
    """Why ``path`` is not a feature CSV training can read, or None; checked up front because
    training takes minutes and fails deep inside on a file of anything else."""
    with path.open("rb") as file:
        head = [file.readline(), file.readline()]
    try:
        header = next(csv.reader([head[0].decode()]), [])
    except UnicodeDecodeError:
        return "not a text CSV file"
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing or not any(c.startswith("z_") for c in header):
        return f"not a WESAD feature CSV (missing columns: {', '.join(missing) or 'z_*'})"
    if not head[1].strip():
        return "no rows after the header"
    return None


def cmd_model(args: argparse.Namespace, config: object = None) -> int:
    """Handler for `vagus model train|info`; config chooses the model `info` describes."""
    if args.model_command == "info":
        from vagus.config import VagusConfig  # noqa: PLC0415
        from vagus.model.info import model_info, render_info  # noqa: PLC0415

        settings = (config if isinstance(config, VagusConfig) else VagusConfig()).stress_model
        info = model_info(settings)
        print(json.dumps(info) if args.json else render_info(info))
        return 0
    problem = data_problem(args.data)
    if problem is not None:
        print(f"vagus: {args.data}: {problem}", file=sys.stderr)
        return 2
    writable_folder(args.out)

    from vagus.model.train import run  # noqa: PLC0415 - sklearn loads only when training

    report = run(args.data, args.out)
    print(render(report))
    if args.json:
        print(json.dumps(json_summary(report)))
    return 0


def _with_interval(value: float, interval: list[float]) -> str:
    return f"{value:.3f} ({interval[0]:.3f}-{interval[1]:.3f})"


def json_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures first, all of the default model (HEADLINE_NESTED and
    CROSS_DATASET_VARIANT): nested LOSO under the runtime protocol, then across data sets; the
    model with heart data's nested figures beside them; the (non-nested) LOSO of the former MLP,
    which is not exported, after them as a comparison."""
    nested = report["nested"]
    runtime = nested[HEADLINE_NESTED]
    with_heart_nested = nested[RUNTIME_KEY]
    replayed = nested.get(replay_key(CROSS_DATASET_VARIANT), {})
    cross = replayed.get(PUBLISHED_KEY, {})
    every_wearer = replayed.get(POOLED, {})
    windowed = nested.get(f"{CROSS_KEY}_without_heart", {}).get(PUBLISHED_KEY, {})
    with_heart = nested.get(replay_key("mean_sd"), {}).get(POOLED, {})
    summary: dict[str, Any] = {
        "headline_model": CROSS_DATASET_MODEL,
        "nested_loso_accuracy": runtime["accuracy"],
        "nested_loso_macro_f1": runtime["macro_f1"],
        "worst_subject_accuracy": runtime["worst_subject_accuracy"],
        "worst_subject": runtime["worst_subject"],
        "worst_subject_windows": runtime["worst_subject_windows"],
        "ece": runtime["ece"],
        "ece_bins": runtime["ece_bins"],
        # subject-level bootstrap intervals of the three pooled figures (vagus.model.uncertainty)
        "nested_loso_accuracy_ci95": runtime["ci95"]["accuracy"],
        "nested_loso_macro_f1_ci95": runtime["ci95"]["macro_f1"],
        "ece_ci95": runtime["ci95"]["ece"],
        "ci95_method": runtime["ci95"]["method"],
        "with_heart_nested_loso_accuracy": with_heart_nested["accuracy"],
        "with_heart_nested_loso_macro_f1": with_heart_nested["macro_f1"],
        "with_heart_worst_subject_accuracy": with_heart_nested["worst_subject_accuracy"],
        "with_heart_worst_subject": with_heart_nested["worst_subject"],
        "with_heart_ece": with_heart_nested["ece"],
        "with_heart_nested_loso_accuracy_ci95": with_heart_nested["ci95"]["accuracy"],
        "cross_dataset_accuracy": cross.get("accuracy"),  # None (null): nothing scored
        "cross_dataset_macro_f1": cross.get("macro_f1"),
        "cross_dataset_coverage": cross.get("coverage", 0.0),
        "cross_dataset_windows": cross.get("windows", 0),
        "cross_dataset_model": CROSS_DATASET_MODEL,
        "cross_dataset_protocol": "each Stress-Predict recording imported as `vagus import e4` "
        "does and run through the gateway's own signal path (vagus analyze) with the exported "
        "file; every labelled window it scores, 60 s every 10 s, after its 20-minute calibration; "
        "over the wearers the study published labels for",
        "cross_dataset_subjects": cross.get("subjects", []),
        "cross_dataset_label_agreement": cross.get("label_agreement", {}),
        # S01 too, labelled by this project's reading of its time log (cross_dataset docstring)
        "cross_dataset_every_wearer_accuracy": every_wearer.get("accuracy"),
        "cross_dataset_every_wearer_windows": every_wearer.get("windows", 0),
        "cross_dataset_with_heart_accuracy": with_heart.get("accuracy"),
        "cross_dataset_with_heart_coverage": with_heart.get("coverage", 0.0),
        # the nested protocol's 60 s windows and first-20-windows calibration, emulated offline
        "cross_dataset_first_20_windows_accuracy": windowed.get("accuracy"),
        "cross_dataset_first_20_windows_windows": windowed.get("windows", 0),
        "protocol": nested["protocol"],
        "per_subject": runtime["per_subject"],
        "choices": runtime["choices"],  # what each outer fold's inner loop chose
        "nested": {k: v for k, v in nested.items() if k not in ("protocol", HEADLINE_NESTED)},
    }
    skipped = ("evaluation", "with_temperature", "nested")
    summary |= {k: v for k, v in report.items() if k not in skipped}
    summary["baselines"] = {
        name: report["evaluation"][name]["overall"] for name in ("logistic", "boosting")
    }
    summary["with_temperature"] = {
        name: result["overall"] for name, result in report["with_temperature"].items()
    }
    return summary
