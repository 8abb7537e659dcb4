"""DSP speed against NeuroKit2 and the gateway's cost per hour of data, measured in one run.

(a) HRV of one 5-min window (time + Lomb frequency + Poincaré, DFA alpha-1, SampEn with our dsp
    functions) against nk.hrv on the same peaks; (b) R-peaks (dsp.ecg) against nk.ecg_peaks on
    the same ECG (MIT-BIH 100, first 5 min, 360 Hz; synthetic when ../shared is absent). Ours and
    theirs alternate rep by rep so both see the same machine load; medians are compared; every
    function runs once before timing, so numba's cache load / compile is excluded.
(c, d) One hour of synthetic chest-strap ECG (130 Hz), EDA (4 Hz) and ACC (25 Hz) in
    notification-sized blocks through vagus.pipeline.FeaturePipeline (the gateway's whole DSP:
    buffers, R-peaks, HRV, EDA, ACC, model scoring), in a SUBPROCESS that never imports
    neurokit2: CPU seconds (time.process_time, after a 10-min warm-up run on a separate
    pipeline), real-time factor = data seconds / median CPU seconds, and peak RSS (ru_maxrss,
    the largest of the processes). The hour runs once in each of GATEWAY_REPEATS fresh
    processes and cpu_s is their median (min and max reported too): on a shared machine a
    process's placement moves its speed by up to a third for its whole life, so repeats inside
    one process would all sample the same placement.

Usage: .venv/bin/python bench/dsp_bench.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.ecg import detect_r_peaks
from dsp.hrv import (
    dfa_alpha,
    frequency_domain,
    poincare,
    rr_intervals_ms,
    sample_entropy,
    time_domain,
)
from ingest.decoding import SampleBlock
from ingest.importers.wfdb import read_record
from vagus.config import WindowSettings
from vagus.pipeline import FeaturePipeline

ROOT = Path(__file__).resolve().parents[1]
MITDB = ROOT / ".." / "shared" / "data" / "ecg" / "mitdb100" / "100"
FloatArray = npt.NDArray[np.float64]
T0_NS = 1_700_000_000 * 10**9
GATEWAY_REPEATS = 5  # fresh processes that each run the gateway hour once; cpu_s is the median
# P, Q, R, S, T waves: (offset s, width s, amplitude mV) of a lead-II-like beat
_WAVES = ((-0.2, 0.025, 0.12), (-0.03, 0.01, -0.15), (0.0, 0.012, 1.2), (0.03, 0.01, -0.25),
          (0.25, 0.05, 0.3))  # fmt: skip


def synth_ecg(seconds: float, fs: float, seed: int = 0) -> FloatArray:
    """ECG in µV: Gaussian PQRST at ~80 bpm with respiratory and slow HRV, wander and noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    x = np.zeros(n)
    beat = 0.3
    while beat < seconds - 0.5:
        lo, hi = int((beat - 0.3) * fs), min(n, int((beat + 0.45) * fs))
        tt = np.arange(max(lo, 0), hi) / fs - beat
        for centre, width, amp in _WAVES:
            x[max(lo, 0) : hi] += amp * np.exp(-0.5 * ((tt - centre) / width) ** 2)
        beat += 0.75 + 0.05 * np.sin(2 * np.pi * beat / 4) + 0.03 * np.sin(2 * np.pi * beat / 60)
        beat += rng.normal(0, 0.01)
    t = np.arange(n) / fs
    return 1000.0 * (x + 0.1 * np.sin(2 * np.pi * 0.2 * t) + rng.normal(0, 0.02, n))


def _gateway_blocks(seconds: float) -> list[tuple[int, Any]]:
    """(arrival ns, SampleBlock) in arrival order: ECG 73 per frame, EDA and ACC 1 s frames."""
    rng = np.random.default_rng(1)
    n_eda, n_acc = int(seconds * 4), int(seconds * 25)
    k = np.arange(n_eda)
    scrs = np.zeros(n_eda)
    scrs[rng.choice(n_eda, max(1, n_eda // 120), replace=False)] = rng.uniform(0.05, 0.5)
    phasic = np.convolve(scrs, np.exp(-np.arange(60) / 16.0) * (1 - np.exp(-np.arange(60) / 3.0)))
    eda = 4.0 + 0.8 * np.sin(2 * np.pi * k / 2400) + phasic[:n_eda] + rng.normal(0, 0.005, n_eda)
    acc = np.column_stack([rng.normal(0, 40, n_acc), rng.normal(0, 40, n_acc),
                           1000 + rng.normal(0, 40, n_acc)])  # fmt: skip
    streams = (("ecg", synth_ecg(seconds, 130.0), 130.0, 73, "uV"),
               ("eda", eda, 4.0, 4, "uS"), ("acc", acc, 25.0, 25, "mG"))  # fmt: skip
    out = []
    for name, values, rate, per, unit in streams:
        for i in range(0, len(values), per):
            chunk = values[i : i + per]
            times = T0_NS + (np.arange(i, i + len(chunk)) * (1e9 / rate)).astype(np.int64)
            block = SampleBlock("bench-device", name, times, chunk, unit, rate)
            out.append((int(times[-1]), block))
    out.sort(key=lambda item: item[0])
    return out


def gateway_run(seconds: float) -> dict[str, float]:
    """CPU seconds of `seconds` of data through a fresh FeaturePipeline (after a warm-up)."""

    def run(blocks: list[tuple[int, Any]]) -> int:
        pipeline = FeaturePipeline(
            patient_id="bench-patient", producer_id="bench", windows=WindowSettings()
        )
        closed = 0
        for arrival_ns, block in blocks:
            pipeline.add(block)
            closed += len(pipeline.advance(arrival_ns))
        return closed + len(pipeline.finish())

    run(_gateway_blocks(min(seconds, 600.0)))  # warm-up: numba cache loads, LiteRT set-up
    blocks = _gateway_blocks(seconds)
    start = time.process_time()
    windows = run(blocks)
    return {"cpu_s": time.process_time() - start, "windows": float(windows),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "neurokit2_imported": float("neurokit2" in sys.modules)}  # fmt: skip


def gateway_processes(seconds: float) -> dict[str, float]:
    """The gateway hour in GATEWAY_REPEATS fresh processes that never import neurokit2."""
    runs = []
    for _ in range(GATEWAY_REPEATS):
        child = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [sys.executable, __file__, "--gateway-only", str(seconds)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
    if any(r["neurokit2_imported"] for r in runs):
        raise RuntimeError("a gateway subprocess imported neurokit2")
    cpu = statistics.median(r["cpu_s"] for r in runs)
    return {"data_s": seconds, "cpu_s": cpu, "cpu_s_min": min(r["cpu_s"] for r in runs),
            "cpu_s_max": max(r["cpu_s"] for r in runs), "gateway_repeats": float(len(runs)),
            "windows": runs[0]["windows"], "realtime_factor": seconds / cpu,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "neurokit2_imported": 0.0}  # fmt: skip


def _alternating(
    ours: Callable[[], object], theirs: Callable[[], object], reps: int
) -> tuple[float, float]:
    """Median seconds of each, timed alternately after one untimed call of each."""
    ours()
    theirs()
    t_ours: list[float] = []
    t_theirs: list[float] = []
    for _ in range(reps):
        for fn, sink in ((ours, t_ours), (theirs, t_theirs)):
            start = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - start)
    return statistics.median(t_ours), statistics.median(t_theirs)


def our_hrv(peaks: npt.NDArray[np.int64], fs: float) -> dict[str, float]:
    """Time, Lomb frequency and nonlinear HRV of one window with our dsp functions."""
    rr = rr_intervals_ms(peaks, fs)
    t = peaks[1:] / fs
    td, fd, pc = time_domain(rr), frequency_domain(t, rr), poincare(rr)
    return {"rmssd": td.rmssd_ms, "lf_hf": fd.lf_hf, "sd2": pc.sd2_ms,
            "dfa_a1": dfa_alpha(rr), "sampen": sample_entropy(rr)}  # fmt: skip


def versus_neurokit(reps: int) -> dict[str, float]:
    import neurokit2 as nk  # noqa: PLC0415 - here only: the gateway child must never import it

    if MITDB.with_suffix(".dat").is_file():
        record = read_record(MITDB)
        ecg, fs, source = record.lead("MLII")[: int(300 * record.fs)], record.fs, 1.0
    else:
        ecg, fs, source = synth_ecg(300.0, 360.0), 360.0, 0.0
    ecg = np.ascontiguousarray(ecg)
    peaks = detect_r_peaks(ecg, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # neurokit2's pandas and short-signal warnings
        hrv_ours, hrv_nk = _alternating(
            lambda: our_hrv(peaks, fs), lambda: nk.hrv(peaks, sampling_rate=fs), reps
        )
        tf_ours, tf_nk = _alternating(
            lambda: (time_domain(rr_intervals_ms(peaks, fs)),
                     frequency_domain(peaks[1:] / fs, rr_intervals_ms(peaks, fs))),
            lambda: (nk.hrv_time(peaks, sampling_rate=fs),
                     nk.hrv_frequency(peaks, sampling_rate=fs)),
            reps,
        )  # fmt: skip
        rp_ours, rp_nk = _alternating(
            lambda: detect_r_peaks(ecg, fs), lambda: nk.ecg_peaks(ecg, sampling_rate=fs), reps
        )
        _, rp_nk_clean = _alternating(
            lambda: None,
            lambda: nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=fs), sampling_rate=fs),
            max(3, reps // 2),
        )
    return {"mitdb100_input": source, "beats": float(peaks.size),
            "hrv_ours_s": hrv_ours, "hrv_nk_s": hrv_nk,
            "hrv_speedup_vs_neurokit2": hrv_nk / hrv_ours,
            "hrv_time_freq_speedup_vs_neurokit2": tf_nk / tf_ours,
            "rpeak_ours_s": rp_ours, "rpeak_nk_s": rp_nk,
            "rpeak_speedup_vs_neurokit2": rp_nk / rp_ours,
            "rpeak_speedup_vs_neurokit2_clean_and_peaks": rp_nk_clean / rp_ours}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 min of data, 2 reps: smoke test")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    parser.add_argument("--gateway-only", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gateway_only:  # the child: gateway path only, never neurokit2
        print(json.dumps(gateway_run(args.gateway_only)))
        return
    seconds = 120.0 if args.quick else 3600.0
    gateway = gateway_processes(seconds)
    result = versus_neurokit(reps=2 if args.quick else 7) | gateway
    for key, value in result.items():
        print(f"{key:45s} {value:12.4g}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
