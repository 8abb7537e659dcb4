"""A throw-away PostgreSQL server for the console's tests: initdb in a temporary folder, one
free loopback port, trust authentication, stopped (and its folder removed) at teardown.

PostgreSQL refuses to run as root, so as root the server runs as ``nobody`` (runuser), with its
folder handed to that user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "console"


def postgres_missing() -> str | None:
    if not (BIN / "initdb").exists() or not (BIN / "pg_ctl").exists():
        return f"PostgreSQL 15 is not installed ({BIN}/initdb)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server; yield the URL of its ``postgres`` database."""
    folder = Path(tempfile.mkdtemp(prefix="vagus-pg-"))
    data = folder / "data"
    port = _free_port()
    if os.geteuid() == 0:
        os.chown(folder, *_nobody())
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    USER,
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
            cwd=folder,
        )
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
        subprocess.run(
            _as_server_user(
                [
                    str(BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-w",
                    "-l",
                    str(folder / "server.log"),
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
            cwd=folder,
        )
        try:
            yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_server_user(
                    [str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                ),
                check=False,
                capture_output=True,
                timeout=60,
                cwd=folder,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _nobody() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def fresh_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server; its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # name: made by the test, not input
    return server_url.rsplit("/", 1)[0] + f"/{name}"
