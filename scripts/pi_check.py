"""`make pi-check`'s Python side: the gateway's windows on x86 and on emulated arm64, compared.

    pi_check.py windows [--recording P]   replay a recording through the gateway's own path
                                          (decoders, DSP kernels, TFLite stress model); JSON
    pi_check.py warm-up                   the gateway's start-up kernel warm-up; JSON
    pi_check.py arm64 [--recording P]     inside the arm64 root: the install-time kernel step
                                          with an empty numba cache (cold), the gateway's
                                          warm-up with that cache (warm), then `windows`; JSON
    pi_check.py compare X86 ARM64         every window paired and compared; a report, then one
                                          JSON line; exit 1 unless every window is equal

`windows` and `warm-up` measure themselves (wall and CPU seconds, numba cache entries written),
so `arm64` can run each in a fresh interpreter, as a restarted gateway would be.
scripts/pi_check.sh runs the whole check; docs/pi.md, "arm64 under emulation", has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pi_check_compare import compare_windows, describe, flatten, tolerance

HOUR_S = 3600.0


def _bundled_recording() -> Path:
    import vagus  # noqa: PLC0415 - the installed package's own data, wherever it lives

    return Path(vagus.__file__).parent / "data" / "demo-session.vrec"


def _cache_entries() -> int:
    """numba index files in the active kernel cache (one per compiled function and file)."""
    import numba  # noqa: PLC0415

    import dsp  # noqa: F401, PLC0415 - sets numba's cache folder unless NUMBA_CACHE_DIR does

    folder = Path(str(numba.config.CACHE_DIR))  # type: ignore[attr-defined]
    return sum(1 for _ in folder.rglob("*.nbi")) if folder.is_dir() else 0


def _environment() -> dict[str, Any]:
    import ai_edge_litert  # noqa: PLC0415
    import numba  # noqa: PLC0415
    import numpy  # noqa: PLC0415

    import vagus  # noqa: PLC0415

    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith(("model name", "Model")):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "machine": platform.machine(),
        "cpu_model": model,
        "qemu_cpu": os.environ.get("QEMU_CPU"),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "ai_edge_litert": getattr(ai_edge_litert, "__version__", "?"),
        "vagus_from": str(Path(vagus.__file__).parent),
    }


def windows(recording: Path) -> dict[str, Any]:
    """Every window the gateway's RecordDriver closes over ``recording``, as plain values."""
    from ingest.replay import open_recording  # noqa: PLC0415
    from stream.events import Event, FeatureWindow  # noqa: PLC0415
    from vagus.analysis import window_table  # noqa: PLC0415
    from vagus.config import VagusConfig  # noqa: PLC0415
    from vagus.record_driver import RecordDriver  # noqa: PLC0415

    entries = _cache_entries()
    cpu, wall = time.process_time(), time.perf_counter()
    reader = open_recording(recording)
    events: list[Event] = []
    first = last = None
    with tempfile.TemporaryDirectory(prefix="pi-check-") as state_dir:
        driver = RecordDriver.build(
            devices={d.device_id: d for d in reader.header.devices},
            config=VagusConfig(),
            patient_id=reader.header.patient_id,
            producer_id="pi-check",
            state_dir=Path(state_dir),
        )
        for record in reader:
            stamp = getattr(record, "gateway_time_ns", None)
            if stamp is not None:
                first = stamp if first is None else min(first, stamp)
                last = stamp if last is None else max(last, stamp)
            for closed in driver.handle(record):
                events += [closed.window, *closed.events]
        for closed in driver.finish():
            events += [closed.window, *closed.events]
    table = window_table(events)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    inputs = {e.event_id: e.model_features for e in events if isinstance(e, FeatureWindow)}
    rows = [flatten(row, inputs[str(row["window_id"])]) for row in table.rows]
    recorded_s = (last - first) / 1e9 if first is not None and last is not None else 0.0
    return {
        **_environment(),
        "recording": recording.name,
        "recorded_s": recorded_s,
        "replay_cpu_s": cpu,
        "replay_wall_s": wall,
        "cpu_s_per_hour": cpu * HOUR_S / recorded_s if recorded_s else None,
        "kernels_compiled": _cache_entries() - entries,
        "scored_windows": sum(row.get("model_probability") is not None for row in rows),
        "windows": rows,
    }


def warm_up_run() -> dict[str, Any]:
    from vagus.warmup import warm_up  # noqa: PLC0415

    entries = _cache_entries()
    cpu = time.process_time()
    result = warm_up()
    return {
        "seconds": result.seconds,
        "cpu_s": time.process_time() - cpu,
        "windows": result.windows,
        "kernels_compiled": _cache_entries() - entries,
    }


def _children_cpu_s() -> float:
    """CPU seconds of every child (and grandchild) that has ended so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child(*args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run this interpreter with ``args``: its last stdout line (JSON), wall and CPU time."""
    started, cpu = time.perf_counter(), _children_cpu_s()
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, *args], env=env, cwd="/", capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    result["process_wall_s"] = time.perf_counter() - started
    result["process_cpu_s"] = _children_cpu_s() - cpu
    return result


def arm64(recording: Path | None) -> dict[str, Any]:
    """Cold install step, warm gateway start, replay: three fresh interpreters, one cache."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-cold-")  # empty: a fresh install
    script = str(Path(__file__).resolve())
    vagus_cli = str(Path(sys.executable).with_name("vagus"))
    warm_csv = str(Path(env["NUMBA_CACHE_DIR"]).parent / "pi-check-warm-up.csv")
    # The install-time step docs/pi.md gives: `vagus analyze` over the bundled recording.
    install = _child("-c", _INSTALL_STEP, vagus_cli, warm_csv, env=env)
    start = _child(script, "warm-up", env=env)
    replay = _child(script, "windows", *(["--recording", str(recording)] if recording else []),
                    env=env)  # fmt: skip
    return {
        **replay,
        "cold_compile_s": install["seconds"],
        "cold_compile_cpu_s": install["process_cpu_s"],
        "cold_kernels_compiled": install["kernels_compiled"],
        "warm_start_s": start["seconds"],
        "warm_start_cpu_s": start["cpu_s"],
        "warm_start_kernels_compiled": start["kernels_compiled"],
    }


# Runs the installed `vagus analyze` and reports its wall time and the cache entries it wrote.
_INSTALL_STEP = """
import json, subprocess, sys, time
from pathlib import Path
import vagus
data = Path(vagus.__file__).parent / "data" / "demo-session.vrec"
cache = Path(__import__("os").environ["NUMBA_CACHE_DIR"])
before = sum(1 for _ in cache.rglob("*.nbi"))
t = time.perf_counter()
subprocess.run([sys.argv[1], "analyze", str(data), "-o", sys.argv[2]], check=True,
               stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds,
                  "kernels_compiled": sum(1 for _ in cache.rglob("*.nbi")) - before}))
"""


def compare(x86_path: Path, arm64_path: Path, elapsed_s: float | None = None) -> int:
    x86 = json.loads(x86_path.read_text())
    arm = json.loads(arm64_path.read_text())
    result = compare_windows(x86["windows"], arm["windows"])
    for line in describe(result):
        print(line)
    cpu_x86, cpu_arm = x86["replay_cpu_s"], arm["replay_cpu_s"]
    summary = {
        **result.summary(),
        "cold_compile_s": round(arm["cold_compile_s"], 1),
        "cold_compile_cpu_s": round(arm["cold_compile_cpu_s"], 1),
        "warm_start_s": round(arm["warm_start_s"], 2),
        "warm_start_cpu_s": round(arm["warm_start_cpu_s"], 2),
        "replay_wall_s": round(arm["replay_wall_s"], 1),
        "cpu_s_per_hour": round(arm["cpu_s_per_hour"], 2),
        "x86_cpu_s_per_hour": round(x86["cpu_s_per_hour"], 2),
        "emulation_cpu_ratio": round(cpu_arm / cpu_x86, 2) if cpu_x86 else None,
        "recorded_s": round(arm["recorded_s"], 1),
        "scored_windows": arm["scored_windows"],
        "cold_kernels_compiled": arm["cold_kernels_compiled"],
        "warm_start_kernels_compiled": arm["warm_start_kernels_compiled"],
        "replay_kernels_compiled": arm["kernels_compiled"],
        "cpu_model": arm["cpu_model"],
        "qemu_cpu": arm["qemu_cpu"],
        "x86_cpu_model": x86["cpu_model"],
        "python": arm["python"],
        "vagus_from": arm["vagus_from"],
        "tolerance": tolerance(),
    }
    if elapsed_s is not None:
        summary["total_s"] = round(elapsed_s)
    print(json.dumps(summary))
    return 0 if result.passed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("windows", "arm64"):
        sub.add_parser(name).add_argument("--recording", type=Path)
    sub.add_parser("warm-up")
    both = sub.add_parser("compare")
    both.add_argument("x86", type=Path)
    both.add_argument("arm64", type=Path)
    both.add_argument("--elapsed-s", type=float, help="the whole check's time so far")
    args = parser.parse_args(argv)
    if args.command == "compare":
        return compare(args.x86, args.arm64, args.elapsed_s)
    if args.command == "windows":
        document = windows(args.recording or _bundled_recording())
    elif args.command == "warm-up":
        document = warm_up_run()
    else:
        document = arm64(args.recording)
    print(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
