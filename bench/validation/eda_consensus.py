"""Our SCRs against several established tools and their consensus, on four E4 wrist sessions.

Sessions: the shared E4 session (eda/e4_flirt) and Stress-Predict S01-S03. Each is cut where
the sensor has settled (its first sample at or above 0.05 µS, plus 5 s), and peaks inside
stretches that Kleckner et al.'s rules call implausible (dsp.eda.implausible_eda_mask) are
scored by nobody. Matching tolerance: TOLERANCE_S; consensus: a strict majority of the tools
(bench.validation.scr_consensus). Ours is detect_scrs' default; the plain slope detector
(its rules off, the previous default) is scored alongside so a change shows both ways.

False positives where there is nothing to find: each session is cut into SEGMENT_S pieces;
a piece is "quiet" when no consensus peak lies in it or within the tolerance of it, and no
sample in it is implausible. A quiet piece is "noisy" when the accelerometer flags motion in it
(dsp.eda.motion_artifact_mask; where the accelerometer file ends, by noise alone: the shared
E4 session's ACC file was cut short) or its high-frequency residue (raw minus the 1 Hz low-pass) has
a robust spread above NOISY_MULTIPLE times the session's median piece; it is "flat" when
neither holds. The rate is our peaks in such pieces per minute of them.

The pooled F1 against the consensus has a 95 % interval from a block bootstrap: each session is
cut into BLOCK_S pieces, every match, false peak and miss counted in the piece of its peak, and
the pieces of all sessions are drawn with replacement (RESAMPLES draws, SEED fixed). Responses
come in bursts that last a task, so pieces this long keep a burst together; single responses
drawn one by one would give too narrow an interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.eda import ScrMethod, clean_eda, detect_scrs, implausible_eda_mask, motion_artifact_mask
from vagus.model.uncertainty import resampled_sums
from validation.scr_consensus import Match, consensus, match, matched_pairs
from validation.scr_tools import MIN_AMPLITUDE_US, TOOLS, tool_version

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: peaks within 2 s are one response: shorter than an SCR's 1-3 s rise plus its recovery, so
#: two responses rarely fall within it, longer than the tools' disagreement about where one
#: peaks (a high-passed phasic signal peaks earlier than the conductance itself does).
TOLERANCE_S = 2.0
SETTLE_S = 5.0
SEGMENT_S = 10.0
NOISY_MULTIPLE = 3.0
BLOCK_S = 300.0
RESAMPLES = 2000
SEED = 15
OURS: tuple[ScrMethod, ...] = ("response", "slope")


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    fs: float
    eda: FloatArray
    valid: BoolArray  # not implausible by Kleckner et al.'s rules
    moving: BoolArray  # the accelerometer flags motion within 2 s


def _e4_csv(path: Path) -> tuple[float, FloatArray]:
    """(rate, samples) of an E4 export: row 1 start time, row 2 rate, then one row a sample."""
    raw = np.loadtxt(path, delimiter=",", ndmin=2)
    return float(raw[1, 0]), raw[2:]


def load_session(name: str, folder: Path) -> Session:
    """The session's EDA from where the sensor settled, with its validity and motion flags."""
    fs, eda = _e4_csv(folder / "EDA.csv")
    x = eda[:, 0]
    start = int(np.flatnonzero(x >= 0.05)[0]) + round(SETTLE_S * fs)
    acc_fs, acc = _e4_csv(folder / "ACC.csv")
    covered = min(x.size, int(acc.shape[0] / acc_fs * fs))
    moving = np.zeros(x.size, dtype=bool)  # beyond the accelerometer file: judged by noise only
    moving[:covered] = motion_artifact_mask(acc / 64.0, acc_fs, eda_fs=fs, n_eda=covered)
    x = x[start:]
    return Session(name, fs, x, ~implausible_eda_mask(x, fs), moving[start:])


def sessions(data: Path) -> list[Session]:
    folders = {"e4_flirt": data / "eda" / "e4_flirt"}
    for k in (1, 2, 3):
        folders[f"stress_predict_S0{k}"] = data / "stress" / "stress_predict" / f"S0{k}"
    return [load_session(n, f) for n, f in folders.items() if (f / "EDA.csv").is_file()]


def _scored(peaks: IntArray, s: Session) -> IntArray:
    peaks = np.asarray(peaks, dtype=np.int64)
    out: IntArray = peaks[s.valid[peaks]]
    return out


def _segment_kinds(s: Session, cons: IntArray, tol: int) -> tuple[BoolArray, BoolArray, int]:
    """(flat, noisy) per SEGMENT_S piece, and the piece length in samples."""
    step = round(SEGMENT_S * s.fs)
    n = s.eda.size // step
    near = np.zeros(s.eda.size, dtype=bool)
    for p in cons:
        near[max(0, p - tol) : p + tol + 1] = True
    residue = s.eda - clean_eda(s.eda, s.fs)
    pieces = residue[: n * step].reshape(n, step)
    spread = 1.4826 * np.median(np.abs(pieces - np.median(pieces, axis=1)[:, None]), axis=1)
    quiet = ~near[: n * step].reshape(n, step).any(1) & s.valid[: n * step].reshape(n, step).all(1)
    limit = NOISY_MULTIPLE * float(np.median(spread[quiet])) if quiet.any() else np.inf
    noisy = np.asarray(s.moving[: n * step].reshape(n, step).any(1) | (spread > limit), dtype=bool)
    flat: BoolArray = quiet & ~noisy
    return flat, quiet & noisy, step


def _fp_per_min(peaks: IntArray, kind: BoolArray, step: int) -> tuple[int, float]:
    """(peaks inside the marked pieces, minutes of them)."""
    piece = peaks // step
    inside = piece < kind.size
    return int(np.sum(kind[piece[inside]])), float(kind.sum() * step)


def block_counts(ours: IntArray, cons: IntArray, tol: int, s: Session) -> list[Match]:
    """The matching of ours against the consensus, counted per BLOCK_S piece of the session:
    a match and a miss in the piece of the consensus peak, a false peak in the piece of ours."""
    step = round(BLOCK_S * s.fs)
    counts = np.zeros((s.eda.size // step + 1, 3), dtype=np.int64)
    pairs = matched_pairs(ours, cons, tol)
    hit_ours = {i for i, _ in pairs}
    hit_cons = {j for _, j in pairs}
    for j, peak in enumerate(cons.tolist()):
        counts[peak // step, 0 if j in hit_cons else 2] += 1
    for i, peak in enumerate(ours.tolist()):
        if i not in hit_ours:
            counts[peak // step, 1] += 1
    return [Match(int(tp), int(fp), int(fn)) for tp, fp, fn in counts]


def f1_interval(blocks: list[Match]) -> tuple[float, float]:
    """95 % percentile interval of the pooled F1 over RESAMPLES draws of the blocks."""
    counts = np.asarray([(b.tp, b.fp, b.fn) for b in blocks], dtype=np.float64)
    tp, fp, fn = resampled_sums(counts, resamples=RESAMPLES, seed=SEED).T
    total = 2 * tp + fp + fn
    f1 = np.where(total > 0, 2 * tp / np.maximum(total, 1), 1.0)
    low, high = np.percentile(f1, [2.5, 97.5])
    return float(low), float(high)


def score_session(s: Session, tool_peaks: dict[str, IntArray]) -> dict[str, Any]:
    """Matches of ours against each tool and the consensus, and the quiet-piece counts."""
    tol = round(TOLERANCE_S * s.fs)
    cons = _scored(consensus(list(tool_peaks.values()), tol), s)
    flat, noisy, step = _segment_kinds(s, cons, tol)
    out: dict[str, Any] = {"consensus": int(cons.size), "minutes": s.eda.size / s.fs / 60.0}
    scored = {t: _scored(p, s) for t, p in tool_peaks.items()}
    out["tools"] = {t: int(p.size) for t, p in scored.items()}
    # each tool against the consensus it votes in (so flattered): what agreement one tool reaches
    out["tool_vs_consensus"] = {t: match(p, cons, tol) for t, p in scored.items()}
    # and its peaks where the consensus has none: whether a noisy stretch fools the tools too
    out["tool_fp"] = {
        t: (_fp_per_min(p, flat, step)[0], _fp_per_min(p, noisy, step)[0])
        for t, p in scored.items()
    }
    for method in OURS:
        ours = _scored(detect_scrs(s.eda, s.fs, method=method).peak_idx, s)
        per_tool = {t: match(ours, p, tol) for t, p in scored.items()}
        fp_flat, samples_flat = _fp_per_min(ours, flat, step)
        fp_noisy, samples_noisy = _fp_per_min(ours, noisy, step)
        out[method] = {
            "count": int(ours.size),
            "consensus": match(ours, cons, tol),
            "blocks": block_counts(ours, cons, tol, s),
            "tools": per_tool,
            "fp_flat": fp_flat,
            "flat_min": samples_flat / s.fs / 60.0,
            "fp_noisy": fp_noisy,
            "noisy_min": samples_noisy / s.fs / 60.0,
        }
    return out


def _pooled(per_session: dict[str, dict[str, Any]], method: str) -> dict[str, Any]:
    total = Match(0, 0, 0)
    blocks: list[Match] = []
    tools: dict[str, Match] = {}
    fp = {"fp_flat": 0, "flat_min": 0.0, "fp_noisy": 0, "noisy_min": 0.0}
    for r in per_session.values():
        m = r[method]
        total = total + m["consensus"]
        blocks += m["blocks"]
        for t, v in m["tools"].items():
            tools[t] = tools.get(t, Match(0, 0, 0)) + v
        for k in fp:
            fp[k] += m[k]
    return {
        "consensus": total,
        "consensus_f1_ci95": f1_interval(blocks),
        "blocks": len(blocks),
        "tools": tools,
        "fp_flat_per_min": fp["fp_flat"] / fp["flat_min"] if fp["flat_min"] else float("nan"),
        "fp_noisy_per_min": fp["fp_noisy"] / fp["noisy_min"] if fp["noisy_min"] else float("nan"),
        **fp,
    }


def scr_consensus(data: Path) -> dict[str, Any] | None:
    """Per-session and pooled figures, or None when fewer than three tools can run."""
    available = {t: run for t, (_, _, run) in TOOLS.items() if tool_version(t) is not None}
    if len(available) < 3:
        return None
    found = sessions(data)
    if not found:
        return None
    per_session = {}
    for s in found:
        peaks = {t: np.sort(run(s.eda, s.fs)) for t, run in available.items()}
        per_session[s.name] = score_session(s, peaks)
    tool_vs: dict[str, Match] = {}
    tool_fp: dict[str, tuple[int, int]] = {}
    for r in per_session.values():
        for t, m in r["tool_vs_consensus"].items():
            tool_vs[t] = tool_vs.get(t, Match(0, 0, 0)) + m
        for t, (flat, noisy) in r["tool_fp"].items():
            before = tool_fp.get(t, (0, 0))
            tool_fp[t] = (before[0] + flat, before[1] + noisy)
    return {
        "tools": {t: tool_version(t) for t in available},
        "tool_vs_consensus": tool_vs,
        "tool_fp": tool_fp,  # pooled (flat, noisy) peaks where the consensus has none
        "missing": sorted(set(TOOLS) - set(available)),
        "min_amplitude_us": MIN_AMPLITUDE_US,
        "tolerance_s": TOLERANCE_S,
        "sessions": per_session,
        "pooled": {m: _pooled(per_session, m) for m in OURS},
    }


def scr_keys(result: dict[str, Any] | None) -> dict[str, Any]:
    """validate.py's summary keys: scr_f1_consensus (with its block-bootstrap interval) and
    scr_f1_<tool>, our default's pooled F1."""
    if result is None:
        return {"scr_f1_consensus": None}
    pooled = result["pooled"]["response"]
    keys: dict[str, Any] = {
        "scr_f1_consensus": pooled["consensus"].f1,
        "scr_f1_consensus_ci95": list(pooled["consensus_f1_ci95"]),
    }
    keys |= {f"scr_f1_{t}": m.f1 for t, m in pooled["tools"].items()}
    return keys
