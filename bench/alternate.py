"""The gateway's speed and memory against an earlier commit, in alternating runs.

Runs dsp_bench.py's gateway child (one fresh process: warm-up, then `--seconds` of synthetic
ECG, EDA and ACC through the whole DSP; CPU seconds and peak RSS) for this tree and for REV in
a temporary detached worktree, in ABBA order pair after pair, so that both see the same drift
in machine load. Prints each side's median real-time factor (data seconds / CPU seconds), the
median of the per-pair ratios (this tree / REV), how many pairs this tree won, and each side's
largest peak RSS. On a shared machine one pair means little; the median over pairs and the
count of pairs won are the figures to quote. Each tree runs once untimed first, so that
numba's cache is filled: a run that compiles has twice the peak RSS.

Usage: .venv/bin/python bench/alternate.py REV [--pairs N] [--seconds S] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _child(tree: Path, seconds: float) -> dict[str, float]:
    """One gateway run of ``tree``'s code in a fresh process."""
    env = os.environ | {"PYTHONPATH": str(tree)}
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(tree / "bench" / "dsp_bench.py"), "--gateway-only", str(seconds)],
        capture_output=True, text=True, check=True, cwd=tree, env=env,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _side(runs: list[dict[str, float]], seconds: float) -> dict[str, float]:
    rtf = [seconds / r["cpu_s"] for r in runs]
    return {"realtime_factor": statistics.median(rtf), "rtf_min": min(rtf),
            "rtf_max": max(rtf), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}  # fmt: skip


def compare(rev: str, pairs: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vagus-bench-") as tmp:
        other = Path(tmp) / "rev"
        subprocess.run(  # noqa: S603 - git with fixed arguments
            ["git", "worktree", "add", "--detach", "--quiet", str(other), rev],  # noqa: S607
            cwd=ROOT, check=True,
        )  # fmt: skip
        try:
            for tree in (ROOT, other):  # fill numba's cache: compiling inflates RSS
                _child(tree, 300.0)
            ours: list[dict[str, float]] = []
            theirs: list[dict[str, float]] = []
            for pair in range(pairs):
                order = ((ROOT, ours), (other, theirs))
                for tree, sink in order if pair % 2 == 0 else order[::-1]:
                    sink.append(_child(tree, seconds))
        finally:
            subprocess.run(  # noqa: S603 - git with fixed arguments
                ["git", "worktree", "remove", "--force", str(other)],  # noqa: S607
                cwd=ROOT, check=False,
            )  # fmt: skip
    ratios = [b["cpu_s"] / a["cpu_s"] for a, b in zip(ours, theirs, strict=True)]
    return {
        "rev": rev,
        "pairs": pairs,
        "data_s": seconds,
        "this_tree": _side(ours, seconds),
        "rev_tree": _side(theirs, seconds),
        "rtf_ratio_median": statistics.median(ratios),
        "pairs_won": sum(r > 1.0 for r in ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the commit to compare with (e.g. HEAD~1)")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args()
    result = compare(args.rev, args.pairs, args.seconds)
    for side in ("this_tree", "rev_tree"):
        figures = result[side]
        print(f"{side:10s} RTF {figures['realtime_factor']:9.0f} "
              f"({figures['rtf_min']:.0f}-{figures['rtf_max']:.0f}), "
              f"peak RSS {figures['peak_rss_mb']:.0f} MB")  # fmt: skip
    print(f"RTF ratio (this / {args.rev}), median of {args.pairs} pairs: "
          f"{result['rtf_ratio_median']:.3f}; pairs won {result['pairs_won']}")  # fmt: skip
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
