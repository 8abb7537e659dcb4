"""The real Polar H10 ride slice through decode -> R-peaks -> RR cleaning (bench/h10_ride.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "bench"))  # bench/ is scripts, not a package: import as they do
from h10_ride import RIDE, h10_ride, read_notifications, render_h10  # noqa: E402

DATA = ROOT / ".." / "shared" / "data"

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not (DATA / RIDE).is_file(), reason=f"../shared/data/{RIDE} is not present"),
]


def test_h10_ride_decodes_and_gives_a_plausible_exercise_rhythm() -> None:
    result = h10_ride(DATA)
    print({k: v for k, v in result.items() if k != "labels"}, result["labels"])
    assert result["frames"] == 2200
    assert result["samples"] == 160_600  # 73 samples per frame
    assert result["decode_errors"] == 0
    assert result["measured_rate_hz"] == pytest.approx(130.0, rel=0.005)
    assert 90.0 <= result["mean_hr_bpm"] <= 180.0  # cycling: the README says 100-160 bpm
    minutes = result["duration_s"] / 60.0
    assert result["beats"] == pytest.approx(result["mean_hr_bpm"] * minutes, rel=0.05)
    # Kubios' guidance: more than 5 % corrected beats makes a recording unreliable for HRV, and
    # published H10 artefact rates at moderate activity are 0.5-2 %. The opening minute of strap
    # settling guarantees some corrections, so 0 would mean the cleaning saw nothing.
    assert 0.0 < result["corrected_share"] < 0.05
    assert sum(result["labels"].values()) == result["beats"] - 1
    section = render_h10(result)
    assert section.startswith("## ") and "2200 / 160,600 / 0" in section


def test_truncated_recording_is_a_clear_error(tmp_path: Path) -> None:
    whole = (DATA / RIDE).read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(whole[:1000])
    with pytest.raises(ValueError, match="past the end"):
        read_notifications(cut)
    cut.write_bytes(b"not an H10 file" + whole[24:100])
    with pytest.raises(ValueError, match="not an H10 ECG recording"):
        read_notifications(cut)
