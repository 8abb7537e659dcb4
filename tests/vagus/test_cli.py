"""The command line's help is the user's first documentation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_vagus
from vagus.cli import COMMANDS, build_parser


def _help(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "vagus", *args, "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def test_top_level_help_lists_every_subcommand_with_one_line() -> None:
    text = _help()
    listing = text.split("COMMAND\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(listing) == len(COMMANDS)  # no description wraps onto a second line
    for name in COMMANDS:
        lines = [line for line in text.splitlines() if line.strip().startswith(name + " ")]
        assert len(lines) == 1, name
        assert len(lines[0].split(None, 1)[1]) > 10  # a real description follows the name


def test_replay_help_explains_every_speed() -> None:
    text = _help("replay")
    for word in ("realtime", "10x", "max", "original timestamps"):
        assert word in text


def test_bad_speed_is_a_clear_usage_error() -> None:
    result = run_vagus("replay", "x.vrec", "--speed", "fast")
    assert result.returncode == 2
    assert "use realtime, max, or a factor like 10x" in result.stderr


def test_parser_builds() -> None:
    assert build_parser().prog == "vagus"


def test_dry_run_describes_every_stream_of_the_bundled_recording() -> None:
    import json

    from vagus.demo import DEFAULT_RECORDING

    result = run_vagus("replay", "--dry-run", "--json", str(DEFAULT_RECORDING))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    rates = {s["stream"]: s["measured_rate_hz"] for s in report["streams"]}
    assert rates["ecg"] == pytest.approx(130, rel=1e-3)
    assert rates["acc"] == pytest.approx(25, rel=1e-3)
    assert rates["eda"] == pytest.approx(8, rel=1e-3)
    assert all(s["gaps"] == 0 for s in report["streams"])
    assert report["decode_errors"] == {}
    assert report["file"]["clean_end"] is True
    assert [m["label"] for m in report["markers"]] == [
        "phase:baseline",
        "phase:stress",
        "phase:recovery",
    ]


def test_recording_info_flags_a_damaged_file(tmp_path: Path) -> None:
    from vagus.demo import DEFAULT_RECORDING

    damaged = tmp_path / "cut.vrec"
    data = DEFAULT_RECORDING.read_bytes()
    damaged.write_bytes(data[: len(data) * 2 // 3])
    result = run_vagus("recording", "info", str(damaged))
    assert result.returncode == 3
    assert '"truncated_tail_bytes": ' in result.stdout
    assert "truncated tail" in result.stdout
    intact = run_vagus("recording", "info", str(DEFAULT_RECORDING))
    assert intact.returncode == 0


def test_not_a_recording_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("shopping list")
    result = run_vagus("replay", "--dry-run", str(bogus))
    assert result.returncode == 2
    assert "not a vagus recording" in result.stderr
