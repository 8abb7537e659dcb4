"""`vagus console` refuses what it cannot use in one line and exit 2, before binding a port."""

from __future__ import annotations

import getpass
import io
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


def _users(
    argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(["console", "users", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_users_add_reads_the_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    secret = "a secret long enough"
    status, out, err = _users(
        ["add", "root", "--role", "admin", "--db", db], secret + "\n", monkeypatch, capsys
    )
    assert status == 0 and secret not in out + err
    assert out == "added root (admin)\n"
    _users(["add", "ann", "--role", "clinician", "--db", db], secret + "\n", monkeypatch, capsys)
    status, out, _ = _users(
        ["assign", "ann", "p-0123456789ab", "--db", db], "", monkeypatch, capsys
    )
    assert status == 0
    status, out, _ = _users(["list", "--db", db], "", monkeypatch, capsys)
    assert out.splitlines() == ["ann\tclinician\tactive\tp-0123456789ab", "root\tadmin\tactive\t-"]
    from console import open_database
    from console.accounts import audit_log, verify_password

    with open_database(db) as opened:
        assert verify_password(opened, "root", secret) is not None
        assert {actor for _, actor, _, _ in audit_log(opened)} == {f"cli:{getpass.getuser()}"}


@pytest.mark.parametrize(("stdin", "says"), [("", "at least 12"), ("short\n", "at least 12")])
def test_users_add_refuses_an_empty_or_short_password(
    stdin: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(tmp_path / "c.db")
    status, _, err = _users(
        ["add", "ann", "--role", "admin", "--db", db], stdin, monkeypatch, capsys
    )
    assert status == 2 and says in err
    assert _users(["list", "--db", db], "", monkeypatch, capsys)[1] == ""


def test_a_forgotten_password_is_reset_from_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The new password works and the old one not; the account's sessions end and its lock
    lifts; the audit names the reset, never the password."""
    from console import open_database
    from console.accounts import audit_log, find_account, verify_password
    from console.auth_sessions import locked_for_ns, record_failure, start_session

    db = str(tmp_path / "c.db")
    old, new = "the old secret that was forgotten", "a fresh secret handed over"
    _users(["add", "ann", "--role", "clinician", "--db", db], old + "\n", monkeypatch, capsys)
    with open_database(db) as opened:
        account = find_account(opened, "ann")
        assert account is not None
        start_session(opened, account, 1)
        for k in range(10):  # past the per-account limit: ann is locked out
            record_failure(opened, "ann", f"10.0.0.{k}", 2 + k)
        assert locked_for_ns(opened, "ann", "10.0.1.1", 20) > 0
    status, out, err = _users(
        ["reset-password", "ann", "--db", db], new + "\n", monkeypatch, capsys
    )
    assert status == 0 and out == "reset the password of ann; its sessions ended\n"
    assert new not in out + err
    with open_database(db) as opened:
        assert verify_password(opened, "ann", new) is not None
        assert verify_password(opened, "ann", old) is None
        assert opened.query("SELECT COUNT(*) FROM web_sessions WHERE account = 'ann'")[0][0] == 0
        assert locked_for_ns(opened, "ann", "10.0.1.1", 20) == 0
        (latest, *_) = audit_log(opened)
        assert latest[2:] == ("reset password", "ann")
    status, _, err = _users(["reset-password", "bob", "--db", db], "", monkeypatch, capsys)
    assert status == 2 and "there is no account named bob" in err  # said before any password


def test_enable_and_unassign_undo_disable_and_assign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    patient = "p-0123456789ab"
    _users(
        ["add", "ann", "--role", "clinician", "--db", db], "long enough pass\n", monkeypatch, capsys
    )
    for step in (["assign", "ann", patient], ["disable", "ann"]):
        assert _users([*step, "--db", db], "", monkeypatch, capsys)[0] == 0
    assert (
        _users(["list", "--db", db], "", monkeypatch, capsys)[1]
        == f"ann\tclinician\tdisabled\t{patient}\n"
    )
    assert _users(["enable", "ann", "--db", db], "", monkeypatch, capsys)[1] == "enabled ann\n"
    status, out, _ = _users(["unassign", "ann", patient, "--db", db], "", monkeypatch, capsys)
    assert status == 0 and out == f"unassigned {patient} from ann\n"
    assert _users(["list", "--db", db], "", monkeypatch, capsys)[1] == "ann\tclinician\tactive\t-\n"
