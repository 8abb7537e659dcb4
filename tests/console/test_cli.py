"""`vagus console` refuses what it cannot use in one line and exit 2, before binding a port."""

from __future__ import annotations

from pathlib import Path

import pytest

from vagus.cli import main
from vagus.commands.console import exposure_warning


@pytest.mark.parametrize(
    ("database", "says"),
    [
        ("{tmp}/missing/console.db", "is not a folder"),
        ("{tmp}", "is a folder, not a SQLite database file"),
        ("{tmp}/not-sqlite.db", "cannot open the SQLite database"),
        ("mysql://db.example/console", "mysql:// databases are not supported"),
    ],
)
def test_a_database_it_cannot_use_is_one_line(
    database: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "not-sqlite.db").write_text("plain text, not a database\n" * 100)
    status = main(["console", "serve", "--db", database.format(tmp=tmp_path), "--port", "0"])
    err = capsys.readouterr().err
    assert status == 2
    assert says in err
    assert err.count("\n") == 1
    assert "http://" not in err  # refused before the port was bound


def test_ingest_needs_a_kafka(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["console", "ingest", "--db", str(tmp_path / "c.db"), "--once"])
    assert status == 2
    assert "console ingest needs a Kafka" in capsys.readouterr().err


def test_demo_refuses_a_console_db_in_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "demo",
            "--console-db",
            str(tmp_path / "missing" / "c.db"),
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    assert status == 2
    assert "missing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "warned"),
    [("127.0.0.1", False), ("::1", False), ("0.0.0.0", True), ("::", True)],  # noqa: S104
)
def test_listening_beyond_loopback_is_warned(host: str, warned: bool) -> None:
    assert (exposure_warning(host) is not None) == warned
