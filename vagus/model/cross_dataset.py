"""Across data sets: the WESAD-trained procedure scored on Stress-Predict's raw E4 exports.

Features come from the raw files through the runtime's own feature code (dsp.stress for EDA and
ACC, dsp.pulse for beats from BVP, dsp.stress's time-domain HRV), per 60 s window from the
recording's start, never from anything the dataset's authors computed. The per-patient baseline
is the runtime protocol's: the first CALIBRATION_WINDOWS usable windows (the gateway's default
20 minutes, inside which Stress-Predict's first stressor falls), which are then not scored.

Segments come from the tags_SXX.csv markers. Stress-Predict's phases, and how they map onto
WESAD's binary label: Stroop test and interview (a TSST-like speech task) -> stress, as is
hyperventilation (the dataset labels it a stress task; WESAD has no such condition, so figures
without it are reported too); consent and baseline, every relax and the questionnaire ->
non-stress. For S01 the time log lists Stroop before Baseline; following the data README we take
the protocol order (baseline first, Stroop after the first relax). A window counts when at least
50 s of it lie in one segment; windows before the EDA sensor settles (it reads 0 µS for the first
seconds) or failing the pulse gate are not scored and lower the coverage.

The headline figures are over the wearers whose labels the study itself published: its authors'
per-second stress label (PUBLISHED_LABELS) holds S02 and S03, and leaves S01 out. Their
per-second labels are checked against the tag segments above (``label_agreement``); S01's labels
are this project's reading of a time log that contradicts itself, so S01 is reported beside the
headline, in the figures over every wearer, not inside it.
"""

from __future__ import annotations

import bisect
import csv
import functools
import itertools
import math
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, f1_score

from dsp.pulse import pulse_beats
from dsp.stress import (
    SCALE_FLOORS,
    QualityInputs,
    StressModel,
    acc_features,
    eda_features,
    eda_traces,
    floor_vector,
)
from dsp.stress.features import hrv_time_features
from dsp.stress.model import QualityGate
from vagus.config import StressModelSettings, VagusConfig
from vagus.model.nested import CALIBRATION_WINDOWS, Choice, baseline_z
from vagus.model.report_keys import POOLED, PUBLISHED_KEY

FloatArray = npt.NDArray[np.float64]

WINDOW_S = 60.0
MIN_INSIDE_S = 50.0
EDA_SETTLED_US = 0.05  # below this the E4's electrodes have not made contact yet
# Raw E4 exports hold ACC in 1/64 g; the runtime's acc_features takes mg (`vagus import e4`
# converts with the same factor).
MG_PER_E4_UNIT = 1000.0 / 64.0
SUBJECTS = ("S01", "S02", "S03")
#: the beat checks the gateway's scorer applies to every window of a model with heart data
SCORE_GATE = QualityGate()
# Segment labels between consecutive tags (1 stress, 0 non-stress, -1 unused); before the first
# tag is consent/baseline (0).
_PHASES = {
    "S01": (0, 0, 1, 1, 0, 1, 0, 0, 0),  # baseline, relax, Stroop, interview, relax, HV, ...
    "S02": (1, 0, 1, 0, 1, 0, 0, 0),  # Stroop, relax, interview, relax, HV, relax, quest., relax
    "S03": (1, 0, 1, 0, 1, 0, 0, 0),
}
_HYPERVENTILATION = {"S01": 5, "S02": 4, "S03": 4}  # index of the segment after that tag
#: The study's own 1 Hz stress label (participant number, unix second, label) for the
#: participants its authors kept; participant n is the raw export folder S0n.
PUBLISHED_LABELS = "Improved_All_Combined_hr_rsp_binary.csv"
#: A wearer counts as labelled by the study only where its labels and the tag segments (which
#: label the windows) agree on this share of its seconds; a few seconds at the boundaries differ.
MIN_LABEL_AGREEMENT = 0.99


@dataclass(frozen=True, slots=True)
class E4Signal:
    start_s: float
    fs: float
    values: FloatArray


def read_e4(path: Path) -> E4Signal:
    """An E4 export CSV: row 1 the unix start, row 2 the rate, then samples (one column/axis)."""
    lines = path.read_text().splitlines()
    start = float(lines[0].split(",")[0])
    fs = float(lines[1].split(",")[0])
    values = np.array([[float(v) for v in line.split(",")] for line in lines[2:] if line.strip()])
    return E4Signal(start, fs, values[:, 0] if values.shape[1] == 1 else values)


def _labels(tags: list[float], subject: str, ends: FloatArray) -> tuple[list[int], list[bool]]:
    """Per window ending at ``ends`` (unix s): its label or -1, and whether it is breathing."""
    bounds = [-math.inf, *tags, math.inf]
    phases = (0, *_PHASES[subject], -1)
    labels, breathing = [], []
    for end in ends:
        inside = [
            max(0.0, min(end, hi) - max(end - WINDOW_S, lo))
            for lo, hi in itertools.pairwise(bounds)
        ]
        best = int(np.argmax(inside))
        labels.append(phases[best] if inside[best] >= MIN_INSIDE_S else -1)
        breathing.append(best == _HYPERVENTILATION[subject] + 1)
    return labels, breathing


def segment_label(tags: list[float], subject: str, t: float) -> int:
    """The tag segments' label (1 stress, 0 non-stress, -1 unused) at unix second ``t``."""
    return (0, *_PHASES[subject], -1)[bisect.bisect_right(tags, t)]


@functools.cache
def published_labels(root: Path) -> dict[str, dict[int, int]]:
    """Per wearer in SUBJECTS whom the study's label file holds: its label per unix second.
    Empty when the file is absent (then no figure rests on published labels)."""
    path = root / PUBLISHED_LABELS
    if not path.is_file():
        return {}
    wanted = {str(int(subject[1:])): subject for subject in SUBJECTS}
    out: dict[str, dict[int, int]] = {}
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            subject = wanted.get(row["Participant"].strip())
            if subject is not None:
                out.setdefault(subject, {})[int(float(row["Time(sec)"]))] = int(float(row["Label"]))
    return out


def label_agreement(root: Path, subject: str) -> float | None:
    """Share of the study's labelled seconds inside the tagged session on which the tag
    segments' label equals the study's; None for a wearer the study did not label."""
    seconds = published_labels(root).get(subject)
    if not seconds:
        return None
    tags = [float(line) for line in (root / subject / f"tags_{subject}.csv").read_text().split()]
    compared = [
        (label, mine)
        for t, label in seconds.items()
        if (mine := segment_label(tags, subject, t)) >= 0
    ]
    return sum(label == mine for label, mine in compared) / max(len(compared), 1)


@functools.cache
def subject_windows(folder: Path, subject: str) -> dict[str, Any]:
    """Feature rows (or None where the gates refuse the window) and labels of one recording
    (kept: each protocol and feature set scores the same windows; callers must not mutate)."""
    eda, bvp, acc = (read_e4(folder / f"{n}.csv") for n in ("EDA", "BVP", "ACC"))
    tags = [float(line) for line in (folder / f"tags_{subject}.csv").read_text().split()]
    settled = int(np.argmax(eda.values >= EDA_SETTLED_US))
    traces = eda_traces(eda.values[settled:], eda.fs)
    eda_start = eda.start_s + settled / eda.fs
    duration = min(v.values.shape[0] / v.fs for v in (eda, bvp, acc))
    ends = eda.start_s + np.arange(WINDOW_S, duration + 1e-9, WINDOW_S)
    rows: list[dict[str, float] | None] = []
    for end in ends:
        first = round((end - WINDOW_S - eda_start) * eda.fs)
        if first < 0:
            rows.append(None)
            continue
        features = eda_features(traces, eda.fs, start=first, stop=first + round(WINDOW_S * eda.fs))
        b0 = round((end - WINDOW_S - bvp.start_s) * bvp.fs)
        beats = pulse_beats(bvp.values[b0 : b0 + round(WINDOW_S * bvp.fs)], bvp.fs)
        heart = hrv_time_features(np.diff(beats.times_s) * 1000.0, beats.keep)
        # A window failing the pulse gate, or the score gate the gateway applies after it, has
        # no heart data: a model that needs it refuses it (dsp.streaming.pulse, the same way).
        scored = QualityInputs(beats.times_s.size, beats.artefact_fraction, None)
        usable = beats.usable and SCORE_GATE.flag(scored) == "ok"
        features |= heart if usable else dict.fromkeys(heart, math.nan)
        a0 = round((end - WINDOW_S - acc.start_s) * acc.fs)
        window_acc = acc.values[a0 : a0 + round(WINDOW_S * acc.fs)] * MG_PER_E4_UNIT
        rows.append(features | acc_features(window_acc))
    labels, breathing = _labels(tags, subject, ends)
    return {"rows": rows, "labels": labels, "hyperventilation": breathing}


def _score(
    choice: Choice, rows: list[dict[str, float] | None], calibration: int, robust: bool
) -> list[float | None]:
    """Per-patient baseline from the first ``calibration`` usable windows (unscored, as at run
    time), then the fitted procedure on the windows after them."""
    names = choice.features
    usable = [
        i
        for i, r in enumerate(rows)
        if r is not None and all(map(math.isfinite, (r[n] for n in names)))
    ]
    if len(usable) <= calibration:
        return [None] * len(rows)
    matrix = np.array([[rows[i][n] for n in names] for i in usable])  # type: ignore[index]
    floors = floor_vector(names, SCALE_FLOORS)
    p = choice.probability(baseline_z(matrix, matrix[:calibration], robust=robust, floors=floors))
    out: list[float | None] = [None] * len(rows)
    for k, i in enumerate(usable[calibration:], start=calibration):
        out[i] = float(p[k])
    return out


def _figures(y: list[int], p: list[float], threshold: float) -> dict[str, float | None]:
    if not y:
        return {"accuracy": None, "macro_f1": None, "windows": 0}  # null in JSON, not NaN
    truth, predicted = np.array(y), np.array(p) >= threshold
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0.0)),
        "windows": len(y),
    }


#: (subject, label, probability, whether the window is hyperventilation) of one scored window
Scored = tuple[str, int, float, bool]


def _aggregate(
    scored: dict[str, list[Scored]],
    labelled: dict[str, int],
    threshold: float,
    published: dict[str, float | None],
) -> dict[str, Any]:
    """Per-subject and pooled figures; coverage: scored share of the labelled windows.
    ``published``: each wearer's agreement with the study's own labels (None: not labelled by
    the study); the wearers it labelled, in agreement with the tags, give the headline."""
    per_subject = {
        subject: _figures([t[1] for t in items], [t[2] for t in items], threshold)
        | {
            "coverage": len(items) / max(labelled[subject], 1),
            "labelled_windows": labelled[subject],
        }
        for subject, items in scored.items()
    }
    pooled = [t for items in scored.values() for t in items]
    calm = [t for t in pooled if not t[3]]
    kept = sorted(s for s, agree in published.items() if (agree or 0.0) >= MIN_LABEL_AGREEMENT)
    confirmed = [t for t in pooled if t[0] in kept]
    coverage = len(pooled) / max(sum(labelled.values()), 1)
    return {
        POOLED: _figures([t[1] for t in pooled], [t[2] for t in pooled], threshold)
        | {"coverage": coverage},
        "without_hyperventilation": _figures([t[1] for t in calm], [t[2] for t in calm], threshold),
        PUBLISHED_KEY: _figures([t[1] for t in confirmed], [t[2] for t in confirmed], threshold)
        | {
            "coverage": len(confirmed) / max(sum(labelled.get(s, 0) for s in kept), 1),
            "subjects": kept,
            "label_agreement": {s: published[s] for s in kept},
            "source": f"{PUBLISHED_LABELS}: the study's per-second stress label",
        },
        "per_subject": per_subject,
        "mapping": "Stroop, interview, hyperventilation -> stress; consent/baseline, relax, "
        "questionnaire -> non-stress",
    }


def evaluate(
    root: Path, choice: Choice, calibration: int = CALIBRATION_WINDOWS, *, robust: bool = False
) -> dict[str, Any]:
    """Scores of every labelled window after calibration; coverage counts the labelled windows
    left unscored (calibration windows included)."""
    scored: dict[str, list[Scored]] = {}
    labelled: dict[str, int] = {}
    for subject in SUBJECTS:
        folder = root / subject
        if not folder.is_dir():
            continue
        windows = subject_windows(folder, subject)
        scores = _score(choice, windows["rows"], calibration, robust)
        kept = [i for i, label in enumerate(windows["labels"]) if label >= 0]
        labelled[subject] = len(kept)
        scored[subject] = [
            (subject, windows["labels"][i], score, windows["hyperventilation"][i])
            for i in kept
            if (score := scores[i]) is not None
        ]
    return _aggregate(scored, labelled, choice.threshold, _agreements(root, scored))


def _agreements(root: Path, subjects: Iterable[str]) -> dict[str, float | None]:
    return {subject: label_agreement(root, subject) for subject in subjects}


def replay(root: Path, model_path: Path, settings: StressModelSettings) -> dict[str, Any]:
    """Stress-Predict through the gateway itself: each recording imported as `vagus import e4`
    imports it and run through the gateway's signal path (vagus.analysis.analyze_recording: its
    windows, 60 s every 10 s, its calibration period, gates and scorer) with the model file at
    ``model_path`` and default settings otherwise. Every labelled window it scores counts;
    calibrating and refused windows lower the coverage."""
    from ingest.importers.e4 import import_e4  # noqa: PLC0415 - only this evaluation imports
    from vagus.analysis import analyze_recording  # noqa: PLC0415

    model = StressModel(model_path)
    config = VagusConfig(stress_model=settings)
    scored: dict[str, list[Scored]] = {}
    labelled: dict[str, int] = {}
    window_qualities: dict[str, dict[str, int]] = {}
    for subject in SUBJECTS:
        folder = root / subject
        if not folder.is_dir():
            continue
        with tempfile.TemporaryDirectory(prefix="vagus-stress-predict-") as scratch:
            recording = Path(scratch) / "recording"
            import_e4(folder, recording)
            table = analyze_recording(recording, config, model=model)
        tags = [float(line) for line in (folder / f"tags_{subject}.csv").read_text().split()]
        ends = np.array(table.column("window_end_ns"), dtype=np.float64) / 1e9
        labels, breathing = _labels(tags, subject, ends)
        qualities = table.column("score_quality")
        probabilities = table.column("stress_probability")
        kept = [i for i, label in enumerate(labels) if label >= 0]
        labelled[subject] = len(kept)
        window_qualities[subject] = dict(Counter(str(qualities[i]) for i in kept))
        scored[subject] = [
            (subject, labels[i], float(p), breathing[i])
            for i in kept
            if qualities[i] == "ok" and isinstance(p := probabilities[i], float)
        ]
    threshold = settings.threshold if settings.threshold is not None else model.threshold
    return _aggregate(scored, labelled, threshold, _agreements(root, scored)) | {
        "window_qualities": window_qualities,
        "windows": "the gateway's: 60 s, every 10 s (overlapping, so neighbours are not "
        "independent)",
    }
