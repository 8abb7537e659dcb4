"""The keys of the training report (`vagus model train`): one definition for the code that
writes the report (vagus.model.nested, .cross_dataset, .train, .export) and the command that
prints it (vagus.model.cli), which must not import sklearn just to read a dictionary."""

from __future__ import annotations

from typing import Final

#: nested figures under the runtime protocol, with heart data; its median/MAD variant; and the
#: same protocol without heart data (the default model's procedure)
RUNTIME_KEY: Final = "runtime_protocol"
ROBUST_KEY: Final = "robust_baseline"
WITHOUT_HEART_KEY: Final = "without_heart"
#: the runtime protocol without heart data on median/MAD calibrations
NO_HEART_ROBUST_KEY: Final = "without_heart_robust_baseline"
#: prefix of a bundled file's Stress-Predict replay through the gateway
#: (``gateway_replay_<variant>``)
REPLAY_KEY: Final = "gateway_replay"
#: prefix of the offline Stress-Predict figures
#: (``cross_dataset_<with|without>_heart[_<calibration>]``)
CROSS_KEY: Final = "cross_dataset"
#: in a Stress-Predict result: every wearer, and the wearers whose labels the study published
POOLED: Final = "pooled"
PUBLISHED_KEY: Final = "published_labels"


def replay_key(variant: str) -> str:
    """The report key of a bundled file's replay through the gateway."""
    return f"{REPLAY_KEY}_{variant}"
