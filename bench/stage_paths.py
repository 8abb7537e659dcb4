"""Do the ECG and EDA stages' one-call kernels pay? The gateway's CPU with and without them.

EcgStage and EdaStage close each window with one numba call on the buffer's rows
(``_one_call``) and finish it step by step (``_per_step``) only where that call hands over. This
bench runs bench/dsp_bench.py's synthetic gateway data (130 Hz ECG, 4 Hz EDA, 25 Hz ACC in
notification-sized blocks) through vagus.pipeline.FeaturePipeline three ways: the shipped
stages, an EcgStage that always finishes step by step, and an EdaStage that does. The variants
are injected through FeaturePipeline's ``stages=`` table, so the shipped code has no switch.

All runs share one process (same placement on a shared machine, same numba cache) and take
turns, the order reversed every other round, after one untimed warm-up run of each variant.
CPU seconds are time.process_time; the script prints each variant's median and, per round, the
variant's CPU over the shipped stages' CPU in that round (the median of those ratios, and how
many rounds the one-call path won). Under QEMU user-mode emulation (scripts/arm64_root.sh)
the figures compare the paths on arm64 code; they are not Raspberry Pi timings (emulation
slows numba and numpy code unevenly, ~7-9x).

Usage: python bench/stage_paths.py [--seconds 3600] [--pairs 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping
from typing import Any

from dsp_bench import _gateway_blocks  # sibling script: the gateway's synthetic hour

from dsp.streaming import STAGES, EcgStage, EdaStage, StageWindow
from dsp.streaming.engine import StageFactory
from vagus.config import WindowSettings
from vagus.pipeline import FeaturePipeline

Blocks = list[tuple[int, Any]]


class EcgStepByStep(EcgStage):
    """EcgStage whose one-call kernel always hands over."""

    def _one_call(self, start: int, end: int) -> StageWindow | None:
        return None


class EdaStepByStep(EdaStage):
    """EdaStage whose one-call kernel always hands over."""

    def _one_call(self, start: int, end: int) -> StageWindow | None:
        return None


VARIANTS: dict[str, Mapping[str, StageFactory]] = {
    "shipped": STAGES,
    "ecg_per_step": {**STAGES, "ecg": EcgStepByStep},
    "eda_per_step": {**STAGES, "eda": EdaStepByStep},
}


def run(blocks: Blocks, stages: Mapping[str, StageFactory]) -> tuple[float, int]:
    """CPU seconds and windows closed for the blocks through a fresh FeaturePipeline."""
    pipeline = FeaturePipeline(
        patient_id="bench-patient", producer_id="bench", windows=WindowSettings(), stages=stages
    )
    start = time.process_time()
    closed = 0
    for arrival_ns, block in blocks:
        pipeline.add(block)
        closed += len(pipeline.advance(arrival_ns))
    closed += len(pipeline.finish())
    return time.process_time() - start, closed


def measure(seconds: float, pairs: int, warmup_s: float) -> dict[str, Any]:
    """Each variant's CPU per round after a warm-up; medians and per-round ratios."""
    warm = _gateway_blocks(warmup_s)
    for stages in VARIANTS.values():
        run(warm, stages)  # numba's cache loads (or compiles), LiteRT set-up
    blocks = _gateway_blocks(seconds)
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    windows: set[int] = set()
    order = list(VARIANTS)
    for round_ in range(pairs):
        for name in order if round_ % 2 == 0 else order[::-1]:
            seconds_cpu, closed = run(blocks, VARIANTS[name])
            cpu[name].append(seconds_cpu)
            windows.add(closed)
    if len(windows) != 1:
        raise RuntimeError(f"the variants closed different numbers of windows: {windows}")
    result: dict[str, Any] = {
        "data_s": seconds,
        "pairs": pairs,
        "windows": windows.pop(),
        "machine": platform.machine(),
        "qemu_cpu": os.environ.get("QEMU_CPU"),
    }
    for name, times in cpu.items():
        result[f"{name}_cpu_s"] = statistics.median(times)
    for name in order[1:]:
        ratios = [v / s for v, s in zip(cpu[name], cpu["shipped"], strict=True)]
        result[f"{name}_ratio"] = statistics.median(ratios)
        result[f"{name}_slower_rounds"] = sum(r > 1.0 for r in ratios)
    result["neurokit2_imported"] = "neurokit2" in sys.modules
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600.0, help="data seconds per run")
    parser.add_argument("--pairs", type=int, default=12, help="rounds of all three variants")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON last")
    args = parser.parse_args()
    if args.seconds <= 0 or args.pairs < 1:
        parser.error("--seconds must be positive and --pairs at least 1")
    result = measure(args.seconds, args.pairs, warmup_s=min(args.seconds, 600.0))
    where = f"{result['machine']}" + (f" (QEMU {result['qemu_cpu']})" if result["qemu_cpu"] else "")
    print(
        f"{args.seconds:.0f} s of data, {result['windows']} windows, {args.pairs} rounds, {where}"
    )
    for name in VARIANTS:
        line = f"{name:>13}: median CPU {result[f'{name}_cpu_s']:.3f} s"
        if name != "shipped":
            line += (
                f", x{result[f'{name}_ratio']:.3f} of shipped (slower in "
                f"{result[f'{name}_slower_rounds']} of {args.pairs} rounds)"
            )
        print(line)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
