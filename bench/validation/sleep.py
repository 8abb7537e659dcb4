"""Cole-Kripke and Sadeh per minute, and Tudor-Locke sleep periods, against ActiLife (GT3X+ day)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dsp.sleep import ACTIGRAPH_AXIS1, cole_kripke, sadeh, tudor_locke_periods
from validation.common import FloatArray


def _actilife(path: Path) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    counts = np.array([float(r["Axis1"]) for r in rows])
    return counts, np.array([r["Sleep or Awake?"] == "S" for r in rows])


def sleep_actilife(data: Path) -> dict[str, float]:
    folder = data / "actigraphy" / "actilife"
    counts, ref_ck = _actilife(folder / "GT3XPlus-RawData-Day01-ColeKripke.csv")
    counts_s, ref_sadeh = _actilife(folder / "GT3XPlus-RawData-Day01-Sadeh.csv")
    return {
        "epochs": float(counts.size),
        "cole_kripke_agreement": float(
            np.mean(cole_kripke(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1) == ref_ck)
        ),
        "sadeh_agreement": float(
            np.mean(sadeh(counts_s, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1) == ref_sadeh)
        ),
    }


def _minute_of(start: datetime, stamp: str) -> int:
    return int((datetime.fromisoformat(stamp.replace("Z", "+00:00")) - start).total_seconds()) // 60


def tudor_locke_actilife(data: Path) -> dict[str, float]:
    """Our Tudor-Locke periods on our Sadeh scoring vs ActiLife's, under all three of its settings.

    A period is matched by its in-bed minute; each field then counts as agreeing only if exact
    (efficiency to ActiLife's two decimals).
    """
    folder = data / "actigraphy" / "actilife"
    with (folder / "GT3XPlus-RawData-Day01-sleep-awake.csv").open(newline="") as f:
        minutes = list(csv.DictReader(f))
    with (folder / "GT3XPlus-RawData-Day01-sleep-periods.csv").open(newline="") as f:
        reference = list(csv.DictReader(f))
    start = datetime.fromisoformat(minutes[0]["timestamp"].replace("Z", "+00:00"))
    counts = np.array([float(r["axis1"]) for r in minutes])
    asleep = sadeh(counts, epoch_s=60.0, count_scale=ACTIGRAPH_AXIS1)
    found = matched = onset_offset = efficiency = waso = awakenings = 0
    for setting in sorted({r["period_algorithm"] for r in reference}):
        refs = [r for r in reference if r["period_algorithm"] == setting]
        p = refs[0]
        ours = tudor_locke_periods(
            asleep,
            counts,
            bedtime_start_min=int(p["n_bedtime_start"]),
            wake_end_min=int(p["n_wake_time_end"]),
            min_period_min=int(p["min_sleep_period"]),
            max_period_min=int(p["max_sleep_period"]),
            min_nonzero_epochs=int(p["min_nonzero_epochs"]),
        )
        found += len(ours)
        by_start = {q.in_bed_index: q for q in ours}
        for r in refs:
            q = by_start.get(_minute_of(start, r["in_bed_time"]))
            if q is None:
                continue
            matched += 1
            onset_offset += q.onset_index == _minute_of(
                start, r["onset"]
            ) and q.out_bed_index == _minute_of(start, r["out_bed_time"])
            efficiency += round(q.efficiency_pct, 2) == float(r["efficiency"])
            waso += q.waso_min == int(r["wake_after_onset"])
            awakenings += q.awakenings == int(r["nb_awakenings"])
    n = float(len(reference))
    return {
        "reference_periods": n,
        "periods_found": float(found),
        "periods_matched": matched / n,
        "onset_offset_exact": onset_offset / n,
        "efficiency_exact": efficiency / n,
        "waso_exact": waso / n,
        "awakenings_exact": awakenings / n,
    }
