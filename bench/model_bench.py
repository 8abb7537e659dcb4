"""Inference time per window: the committed .tflite through LiteRT vs the same MLP in numpy.

Both are timed in the same run on the same normalised rows (random, clipped like real inputs),
so the comparison does not depend on the machine's speed on another day.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dsp.stress import DEFAULT_MODEL, PatientBaseline, QualityInputs, StressModel
from vagus.model.tflite_writer import mlp_forward, read_mlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=5000)
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args()
    model = StressModel(DEFAULT_MODEL)
    rows = np.clip(np.random.default_rng(0).normal(size=(args.windows, len(model.features))), -8, 8)
    batch = rows.astype(np.float32)[:, None, :]
    layers = read_mlp(DEFAULT_MODEL.read_bytes())  # the very weights LiteRT runs
    for row in batch[:100]:  # warm-up: first invoke allocates and plans
        model.probability(row)
    start = time.perf_counter()
    for row in batch:
        model.probability(row)
    litert_us = (time.perf_counter() - start) / args.windows * 1e6
    start = time.perf_counter()
    for row in rows:
        mlp_forward(layers, row[None, :])
    float_us = (time.perf_counter() - start) / args.windows * 1e6
    n = len(model.features)
    model.baseline = PatientBaseline(np.zeros(n), np.ones(n))
    windows = [dict(zip(model.features, np.abs(row) + 0.1, strict=True)) for row in rows]
    quality = QualityInputs(beats=70, rr_artifact_fraction=0.0, motion_fraction=0.0)
    for window in windows[:100]:  # warm-up: the first call loads the numba transform kernel
        model.score(window, quality)
    start = time.perf_counter()
    for window in windows:
        model.score(window, quality)
    score_us = (time.perf_counter() - start) / args.windows * 1e6
    print(f"{args.windows} windows, {len(model.features)} features")
    print(f"LiteRT interpreter: {litert_us:.2f} us per window")
    print(f"numpy float model:  {float_us:.2f} us per window")
    print(f"StressModel.score (dict in, gate, normalise, LiteRT): {score_us:.2f} us per window")
    if args.json:
        timings = {"litert_us_per_window": litert_us, "float_us_per_window": float_us}
        print(json.dumps(timings | {"score_us_per_window": score_us}))


if __name__ == "__main__":
    main()
