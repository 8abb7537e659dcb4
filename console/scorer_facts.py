"""What the console says about the model behind a patient's stress scores: how accurate it was
found to be, on which data, and that it is not a diagnosis.

A clinician who tunes a threshold on a stress probability needs to know how far to trust it,
beside the scores themselves rather than in a document they may never open. The console cannot
know the figures itself (it stores events, not models): the composition that serves it hands
over one ScorerFacts per scorer it knows (vagus.scorer_facts, from the bundled models'
sidecars), keyed by the ``method`` every stress score names. A scorer the console has no facts
for is said to have none, never given another's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    """A measured share with its 95 % interval (None when none was computed)."""

    value: float
    interval: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class ScorerFacts:
    """One scorer's stated accuracy, as its model card states it."""

    method: str
    reads: str  # the inputs, in words: "skin conductance and wrist motion"
    training_data: str  # "WESAD's 12 subjects, Empatica E4 on the wrist"
    subjects: int
    nested_accuracy: Figure
    nested_macro_f1: Figure
    worst_subject_accuracy: float
    worst_subject_windows: int
    #: accuracy on a data set it was never tuned on, through the gateway; None: nothing scored
    cross_dataset_accuracy: float | None
    cross_dataset: str  # "Stress-Predict (2 wearers, 402 windows)"
    #: macro-F1 when a quarter of the calibration was under stress; None: not measured
    stressed_calibration_macro_f1: float | None = None


#: Facts by scorer method (stream.events.StressScore.method).
ScorerFactsByMethod = Mapping[str, ScorerFacts]
