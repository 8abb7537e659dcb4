"""A path that cannot be used is the user's to fix: one line on stderr naming it, exit 2, never
a traceback, in every subcommand that takes one.

The table below must name every path argument the parser has: a new subcommand (or option) that
takes a file or folder fails `test_every_path_argument_is_in_the_table` until it has a row.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import run_vagus
from vagus.cli import build_parser
from vagus.demo import DEFAULT_RECORDING

#: Which ways a path can be bad depends on what the command does with it.
READ_FILE, READ_FOLDER, WRITE_FILE, WRITE_FOLDER = "read file", "read folder", "write", "mkdir"
AS_ROOT = os.geteuid() == 0
NO_PERMISSION_CHECK = pytest.mark.skipif(
    AS_ROOT, reason="root reads and writes regardless of permissions; the other cases still run"
)


@dataclass(frozen=True, slots=True)
class PathArgument:
    """How to run a command so that the path argument in question is the one that fails.

    ``argv`` holds ``{bad}`` where the bad path goes and ``{recording}``, ``{e4}``, ``{wfdb}``,
    ``{csv}``, ``{tmp}`` for good inputs (see `good_inputs`). ``name`` is the bad path's last
    part (some commands go by its suffix); ``suffix`` is what the command adds to the path
    before opening it (a WFDB record names ``<record>.hea``).
    """

    role: str
    argv: tuple[str, ...]
    name: str = "it.vrec"
    suffix: str = ""


#: (subcommand, argument) -> how to make that argument fail. The subcommand is as typed
#: ("" for the top level), the argument its positional name or longest option string.
PATH_ARGUMENTS: dict[tuple[str, str], PathArgument] = {
    ("", "--config"): PathArgument(READ_FILE, ("--config", "{bad}", "doctor")),
    ("recording info", "recording"): PathArgument(READ_FILE, ("recording", "info", "{bad}")),
    ("replay", "recording"): PathArgument(READ_FILE, ("replay", "{bad}")),
    ("demo", "--recording"): PathArgument(READ_FILE, ("demo", "--recording", "{bad}")),
    ("demo", "--summary-json"): PathArgument(WRITE_FILE, ("demo", "--summary-json", "{bad}")),
    ("demo", "--output-dir"): PathArgument(WRITE_FOLDER, ("demo", "--output-dir", "{bad}")),
    ("resonance", "recording"): PathArgument(READ_FILE, ("resonance", "{bad}")),
    ("closedloop", "--stats-file"): PathArgument(
        WRITE_FILE, ("closedloop", "--bootstrap", "127.0.0.1:1", "--stats-file", "{bad}")
    ),
    ("enrol issue", "--out"): PathArgument(
        WRITE_FILE, ("enrol", "issue", "p-0123456789ab", "--out", "{bad}")
    ),
    ("import wfdb", "record"): PathArgument(
        READ_FILE, ("import", "wfdb", "{bad}", "-o", "{tmp}/out.vrec"), name="it", suffix=".hea"
    ),
    ("import wfdb", "--output"): PathArgument(
        WRITE_FILE, ("import", "wfdb", "{wfdb}", "-o", "{bad}")
    ),
    ("import e4", "folder"): PathArgument(
        READ_FOLDER, ("import", "e4", "{bad}", "-o", "{tmp}/out.vrec"), name="export"
    ),
    ("import e4", "--output"): PathArgument(WRITE_FILE, ("import", "e4", "{e4}", "-o", "{bad}")),
    ("import edf", "file"): PathArgument(
        READ_FILE, ("import", "edf", "{bad}", "-o", "{tmp}/out.vrec"), name="it.edf"
    ),
    ("import edf", "--output"): PathArgument(WRITE_FILE, ("import", "edf", "{csv}", "-o", "{bad}")),
    ("import ishne", "file"): PathArgument(
        READ_FILE, ("import", "ishne", "{bad}", "-o", "{tmp}/out.vrec"), name="it.ecg"
    ),
    ("import ishne", "--output"): PathArgument(
        WRITE_FILE, ("import", "ishne", "{csv}", "-o", "{bad}")
    ),
    ("import actigraph", "file"): PathArgument(
        READ_FILE, ("import", "actigraph", "{bad}", "-o", "{tmp}/out.vrec"), name="it.csv"
    ),
    ("import actigraph", "--output"): PathArgument(
        WRITE_FILE, ("import", "actigraph", "{csv}", "-o", "{bad}")
    ),
    ("import actiware", "file"): PathArgument(
        READ_FILE, ("import", "actiware", "{bad}", "-o", "{tmp}/out.vrec"), name="it.csv"
    ),
    ("import actiware", "--output"): PathArgument(
        WRITE_FILE, ("import", "actiware", "{csv}", "-o", "{bad}")
    ),
    ("model train", "--data"): PathArgument(
        READ_FILE, ("model", "train", "--data", "{bad}", "--out", "{tmp}/model")
    ),
    ("model train", "--out"): PathArgument(
        WRITE_FOLDER, ("model", "train", "--data", "{csv}", "--out", "{bad}")
    ),
    ("record", "--output"): PathArgument(
        WRITE_FILE, ("record", "--backend", "virtual", "--seconds", "1", "-o", "{bad}")
    ),
    ("analyze", "recording"): PathArgument(
        READ_FILE, ("analyze", "{bad}", "-o", "{tmp}/table.csv")
    ),
    ("analyze", "--output"): PathArgument(
        WRITE_FILE, ("analyze", "{recording}", "-o", "{bad}"), name="table.csv"
    ),
    ("report", "source"): PathArgument(READ_FILE, ("report", "{bad}", "-o", "{tmp}/r.html")),
    ("report", "--output"): PathArgument(
        WRITE_FILE, ("report", "{recording}", "-o", "{bad}"), name="r.html"
    ),
    ("outputs test", "--wav"): PathArgument(WRITE_FOLDER, ("outputs", "test", "--wav", "{bad}")),
    ("export fhir", "--output"): PathArgument(
        WRITE_FILE, ("export", "fhir", "--db", "{tmp}/console.db", "-o", "{bad}"), name="b.json"
    ),
}

#: Names that mean a path even when the argument has no ``type=Path``.
PATH_LIKE = re.compile(r"file|path|dir|folder|record|output|data|config|csv", re.IGNORECASE)


def walk(
    parser: argparse.ArgumentParser, command: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's parser with the words that select it, the top level first."""
    yield command, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*command, name))


def takes_a_path(action: argparse.Action) -> bool:
    if action.nargs == 0 or isinstance(action, argparse._SubParsersAction):
        return False  # flags, --help, --version and the subcommand choice itself
    names = f"{action.dest} {action.metavar or ''}"
    return action.type is Path or PATH_LIKE.search(names) is not None


def argument_name(action: argparse.Action) -> str:
    return max(action.option_strings, key=len) if action.option_strings else action.dest


def path_arguments() -> set[tuple[str, str]]:
    return {
        (" ".join(command), argument_name(action))
        for command, parser in walk(build_parser())
        for action in parser._actions
        if takes_a_path(action)
    }


def test_every_path_argument_is_in_the_table() -> None:
    found = path_arguments()
    assert ("", "--config") in found and ("recording info", "recording") in found  # walk works
    missing = sorted(found - PATH_ARGUMENTS.keys())
    assert not missing, f"add rows to PATH_ARGUMENTS for {missing}"
    stale = sorted(PATH_ARGUMENTS.keys() - found)
    assert not stale, f"PATH_ARGUMENTS names arguments the parser no longer has: {stale}"


def test_the_walk_finds_an_untyped_path_argument() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers().add_parser("new")
    sub.add_argument("--input-file")
    sub.add_argument("--count", type=int)
    sub.add_argument("--json", action="store_true")
    assert [argument_name(a) for a in sub._actions if takes_a_path(a)] == ["--input-file"]


def make_bad(kind: str, place: Path, name: str) -> Path:
    """A path under ``place`` that is bad in the way ``kind`` says (``name`` plus the row's
    suffix is what the command opens); the command must refuse it."""
    if kind in {"missing folder", "under a file", "an unwritable folder's file"}:
        folder = place / "sub"
        if kind == "under a file":
            folder.write_text("a file where a folder should be\n")
        elif kind == "an unwritable folder's file":
            folder.mkdir()
            folder.chmod(0o500)
        return folder / name
    bad = place / name
    if kind == "a folder":
        bad.mkdir()
    elif kind == "a file":
        bad.write_text("a file, not a folder\n")
    elif kind == "garbage":
        bad.write_bytes(b"\x00\xff garbage, not what the command reads\n" * 3)
    elif kind == "garbage inside":
        bad.mkdir()
        for csv_name in ("EDA.csv", "ACC.csv", "IBI.csv"):
            (bad / csv_name).write_text("garbage\n")
    elif kind == "unreadable":
        bad.write_text("secret\n")
        bad.chmod(0)
    elif kind == "an unreadable folder":
        bad.mkdir()
        (bad / "EDA.csv").write_text("1560279825\n4\n0.1\n")
        bad.chmod(0)
    else:
        assert kind == "missing", kind
    return bad


KINDS: dict[str, tuple[pytest.ParameterSet, ...]] = {
    READ_FILE: (
        pytest.param("missing"),
        pytest.param("a folder"),
        pytest.param("under a file"),
        pytest.param("garbage"),
        pytest.param("unreadable", marks=NO_PERMISSION_CHECK),
    ),
    READ_FOLDER: (
        pytest.param("missing"),
        pytest.param("a file"),
        pytest.param("garbage inside"),
        pytest.param("an unreadable folder", marks=NO_PERMISSION_CHECK),
    ),
    WRITE_FILE: (
        pytest.param("missing folder"),
        pytest.param("a folder"),
        pytest.param("under a file"),
        pytest.param("an unwritable folder's file", marks=NO_PERMISSION_CHECK),
    ),
    WRITE_FOLDER: (
        pytest.param("a file"),
        pytest.param("under a file"),
        pytest.param("an unwritable folder's file", marks=NO_PERMISSION_CHECK),
    ),
}


def _cases() -> Iterator[pytest.ParameterSet]:
    for (command, argument), spec in PATH_ARGUMENTS.items():
        for kind in KINDS[spec.role]:
            (name,) = kind.values
            yield pytest.param(
                spec, name, marks=kind.marks, id=f"{command or 'vagus'} {argument}: {name}"
            )


def good_inputs(tmp: Path) -> dict[str, str]:
    """Valid inputs for the arguments a case does not test, so only the bad one can fail."""
    e4 = tmp / "e4"
    e4.mkdir()
    (e4 / "EDA.csv").write_text("1560279825.0\n4.0\n0.1\n0.2\n0.3\n")
    (tmp / "rec.hea").write_text("rec 1 360 4\nrec.dat 212 200 11 1024 0 0 0 MLII\n")
    (tmp / "rec.dat").write_bytes(bytes(6))
    csv = tmp / "features.csv"
    csv.write_text(
        "subject_id,time_end_sec,label,raw_label,raw_hrv_mean_hr,raw_hrv_rmssd,z_hrv\n"
        "S2,60,baseline,1,800,40,0.1\n"
    )
    return {
        "recording": str(DEFAULT_RECORDING),
        "e4": str(e4),
        "wfdb": str(tmp / "rec"),
        "csv": str(csv),
        "tmp": str(tmp),
    }


@pytest.mark.parametrize(("spec", "kind"), list(_cases()))
def test_a_bad_path_is_one_line_and_exit_2(spec: PathArgument, kind: str, tmp_path: Path) -> None:
    inputs = good_inputs(tmp_path)
    place = tmp_path / "bad"
    place.mkdir()
    opened = make_bad(kind, place, spec.name + spec.suffix)
    bad = str(opened).removesuffix(spec.suffix) if spec.suffix else str(opened)
    try:
        result = run_vagus(*(arg.format(bad=bad, **inputs) for arg in spec.argv))
    finally:
        for path in place.iterdir():
            path.chmod(0o700)  # so that tmp_path can be removed
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vagus: ")
    assert str(place) in lines[0]  # it names the path at fault, not some other one
