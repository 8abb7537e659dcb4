"""The command line's help is the user's first documentation."""

from __future__ import annotations

import subprocess
import sys

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
    for name in COMMANDS:
        lines = [line for line in text.splitlines() if line.strip().startswith(name + " ")]
        assert len(lines) == 1, name
        assert len(lines[0].split(None, 1)[1]) > 10  # a real description follows the name


def test_replay_help_explains_every_speed() -> None:
    text = _help("replay")
    for word in ("realtime", "10x", "max", "original timestamps"):
        assert word in text


def test_bad_speed_is_a_clear_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vagus", "replay", "x.vrec", "--speed", "fast"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "use realtime, max, or a factor like 10x" in result.stderr


def test_parser_builds() -> None:
    assert build_parser().prog == "vagus"
