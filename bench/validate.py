"""Validate the DSP against reference answers on real recordings in ../shared/data.

Checks: R-peaks on each annotated ECG record; time-domain, Poincaré and Lomb HRV on
NSR2DB nsr001 against the PhysioNet Cardiovascular Signal Toolbox (PCST) per 300 s window;
Cole-Kripke and Sadeh against ActiLife's per-minute sleep/wake and Tudor-Locke sleep periods
against ActiLife's; SCRs on an E4 EDA session against neurokit2, and on four E4 sessions
against several EDA tools and their consensus; the real Polar H10 ride through
decode, R-peaks and RR correction (corrected-beat share reported). Writes docs/validation.md;
with --json prints one JSON object as last line.

Usage: .venv/bin/python bench/validate.py [--data DIR] [--no-write] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from h10_ride import h10_ride, render_h10
from validation.cardiac import hrv_nsr001, rpeak_summary, rpeaks_mitdb100, rpeaks_records
from validation.common import DATA, ROOT
from validation.eda import scr_e4
from validation.eda_consensus import scr_consensus, scr_keys
from validation.report import render, render_rpeak_records
from validation.scr_report import render_scr_consensus
from validation.sleep import sleep_actilife, tudor_locke_actilife

DOC = ROOT / "docs" / "validation.md"


def run(data: Path) -> dict[str, Any]:
    return {
        "rpeaks": rpeaks_mitdb100(data),
        "rpeak_records": rpeaks_records(data),
        "hrv": hrv_nsr001(data),
        "sleep": sleep_actilife(data),
        "sleep_periods": tudor_locke_actilife(data),
        "h10": h10_ride(data),
        "scr": scr_e4(data),
        "scr_consensus": scr_consensus(data),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--no-write", action="store_true", help="do not write docs/validation.md")
    parser.add_argument("--json", action="store_true", help="print the summary JSON last")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data} is not present: nothing to validate", file=sys.stderr)
        return 2
    r = run(args.data)
    if not args.no_write:
        rpeak_table = render_rpeak_records(r["rpeak_records"])
        scr_text = render_scr_consensus(r["scr_consensus"])
        DOC.write_text(
            render(r) + "\n" + rpeak_table + "\n" + render_h10(r["h10"]) + "\n" + scr_text,
            encoding="utf-8",
        )
        print(f"wrote {DOC.relative_to(ROOT)}")
    scr = r["scr"]
    summary = {
        "rpeak_mitdb100_sensitivity": r["rpeaks"]["sensitivity"],
        "rpeak_mitdb100_ppv": r["rpeaks"]["ppv"],
        "hrv_nsr001_time_share_within_0_5pct": r["hrv"]["time_share_within_0_5pct"],
        "hrv_nsr001_poincare_share_within_1pct": r["hrv"]["poincare_share_within_1pct"],
        "hrv_nsr001_lomb_median_rel_err": r["hrv"]["lomb_median_rel_err"],
        "colekripke_agreement": r["sleep"]["cole_kripke_agreement"],
        "scr_f1": None if scr is None else scr["f1"],
        **scr_keys(r["scr_consensus"]),
        "h10_ride_decode_errors": r["h10"]["decode_errors"],
        "h10_ride_corrected_share": r["h10"]["corrected_share"],
        **rpeak_summary(r["rpeak_records"]),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
