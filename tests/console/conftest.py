"""The console's database on both engines: a SQLite file, and a real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.postgres import fresh_database, postgres_missing, running_postgres

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One PostgreSQL server for the session; skips in one line where PostgreSQL is absent
    (fails in CI, where it must run)."""
    missing = postgres_missing()
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"{missing}: CI tests the console on PostgreSQL", pytrace=False)
    if missing:
        pytest.skip(missing)
    with running_postgres() as url:
        yield url


@pytest.fixture(params=ENGINES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty console database: a SQLite path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "console.db")
    server: str = request.getfixturevalue("postgres_server")
    return fresh_database(server, f"console_{uuid.uuid4().hex[:12]}")
