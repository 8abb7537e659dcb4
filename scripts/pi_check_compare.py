"""Compare the feature windows of two runs of the same code (x86 and emulated arm64).

Both sides emit windows as JSON objects of plain values (scripts/pi_check.py). A window is
keyed by its start and end (gateway ns, exact) and equal when every value is: the DSP's floats
within ``DSP_RTOL`` relative (``DSP_ATOL`` absolute, for values at zero), the stress model's
float32 outputs within ``MODEL_ATOL`` absolute, everything else (counts, labels, states, which
values are missing) exactly. Random per-run ids are left out before the comparison. A window
only one side has counts as compared and unequal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: float64 DSP features: the same code on two instruction sets may round differently in a last
#: bit (libm, fused multiply-add), which compounds through a window's filters only slightly.
DSP_RTOL = 1e-9
DSP_ATOL = 1e-12
#: The TFLite model computes in float32 (its SIMD kernels differ per CPU): a few ulp at 0.5.
MODEL_ATOL = 1e-6
#: Columns that come out of the TFLite interpreter (and what is derived from them alone).
MODEL_COLUMNS = frozenset({"model_probability", "stress_probability"})
#: Ids drawn at random per run (stream.ids.new_event_id): never equal across runs.
RANDOM_COLUMNS = frozenset({"window_id", "episode_id"})

Value = str | int | float | bool | None


def tolerance() -> dict[str, float]:
    return {"dsp_rtol": DSP_RTOL, "dsp_atol": DSP_ATOL, "model_atol": MODEL_ATOL}


def values_equal(column: str, a: Value, b: Value) -> bool:
    """Equal under this column's tolerance; missing only equals missing, NaN only NaN."""
    if column in RANDOM_COLUMNS:
        return (a is None) == (b is None)
    if isinstance(a, bool) or isinstance(b, bool) or not _is_number(a) or not _is_number(b):
        return type(a) is type(b) and a == b
    x, y = float(a), float(b)  # type: ignore[arg-type]  # numbers, checked above
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if column in MODEL_COLUMNS:
        return abs(x - y) <= MODEL_ATOL
    return abs(x - y) <= DSP_ATOL + DSP_RTOL * max(abs(x), abs(y))


def _is_number(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class Comparison:
    compared: int = 0
    equal: int = 0
    only_x86: int = 0
    only_arm64: int = 0
    #: (window start ns, column, x86 value, arm64 value) of the first differences found
    differences: list[tuple[int, str, Value, Value]] = field(default_factory=list)
    #: largest relative difference of a DSP float, largest absolute of a model output
    max_dsp_rel: float = 0.0
    max_model_abs: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "windows_compared": self.compared,
            "windows_equal": self.equal,
            "windows_only_x86": self.only_x86,
            "windows_only_arm64": self.only_arm64,
            "max_dsp_rel_diff": self.max_dsp_rel,
            "max_model_abs_diff": self.max_model_abs,
        }

    @property
    def passed(self) -> bool:
        return self.compared > 0 and self.equal == self.compared


def _key(window: Mapping[str, Value]) -> tuple[int, int]:
    return int(window["window_start_ns"]), int(window["window_end_ns"])  # type: ignore[arg-type]


def compare_windows(
    x86: Sequence[Mapping[str, Value]],
    arm64: Sequence[Mapping[str, Value]],
    keep: int = 20,
) -> Comparison:
    """Every window of either side, paired by (start, end); ``keep`` differences are listed."""
    left = {_key(w): w for w in x86}
    right = {_key(w): w for w in arm64}
    result = Comparison()
    for key in sorted(left.keys() | right.keys()):
        result.compared += 1
        a, b = left.get(key), right.get(key)
        if a is None or b is None:
            result.only_x86 += b is None
            result.only_arm64 += a is None
            if len(result.differences) < keep:
                result.differences.append((key[0], "<window>", a is not None, b is not None))
            continue
        same = True
        for column in sorted(a.keys() | b.keys()):
            u, v = a.get(column), b.get(column)
            _track(result, column, u, v)
            if not values_equal(column, u, v):
                same = False
                if len(result.differences) < keep:
                    result.differences.append((key[0], column, u, v))
        result.equal += same
    return result


def _track(result: Comparison, column: str, a: Value, b: Value) -> None:
    if not (_is_number(a) and _is_number(b)) or (isinstance(a, int) and isinstance(b, int)):
        return
    x, y = float(a), float(b)  # type: ignore[arg-type]
    if not (math.isfinite(x) and math.isfinite(y)):
        return
    if column in MODEL_COLUMNS:
        result.max_model_abs = max(result.max_model_abs, abs(x - y))
    elif x != y:
        result.max_dsp_rel = max(result.max_dsp_rel, abs(x - y) / max(abs(x), abs(y)))


def flatten(row: Mapping[str, Value], model_features: Mapping[str, float]) -> dict[str, Value]:
    """A table row plus the window's model inputs (as ``model_input:<name>``) as one object."""
    return {**row, **{f"model_input:{k}": v for k, v in sorted(model_features.items())}}


def describe(result: Comparison, lines: Iterable[str] = ()) -> list[str]:
    """Human-readable lines for the report (the JSON summary is the machine's)."""
    out = list(lines)
    out.append(
        f"windows compared {result.compared}, equal {result.equal}, only on x86 "
        f"{result.only_x86}, only on arm64 {result.only_arm64}; largest DSP relative "
        f"difference {result.max_dsp_rel:.3g}, largest model difference {result.max_model_abs:.3g}"
    )
    out += [
        f"  differs: window {s} {c}: x86 {a!r} arm64 {b!r}" for s, c, a, b in result.differences
    ]
    return out
