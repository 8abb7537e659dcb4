"""One connection interface over SQLite (stdlib ``sqlite3``) and PostgreSQL (``psycopg``).

Statements are written once, with ``?`` placeholders and the SQL both engines share (``ON
CONFLICT ... DO NOTHING`` / ``DO UPDATE``); :class:`Dialect` holds the few differences (the
placeholder, column types), so no other module asks which engine it talks to.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Params = Sequence[Any]
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the engines in the statements the console writes."""

    name: str
    placeholder: str
    big_int: str
    real: str
    text: str
    auto_id: str

    def sql(self, statement: str) -> str:
        """``statement`` with its ``?`` placeholders in this engine's style."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)


SQLITE = Dialect("sqlite", "?", "INTEGER", "REAL", "TEXT", "INTEGER PRIMARY KEY AUTOINCREMENT")
POSTGRESQL = Dialect(
    "postgresql", "%s", "BIGINT", "DOUBLE PRECISION", "TEXT", "BIGINT GENERATED ALWAYS AS IDENTITY"
)


class Cursor(Protocol):
    """The part of a DB-API cursor the console uses."""

    rowcount: int

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Params = ..., /) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class DatabaseError(Exception):
    """The database named cannot be used (bad URL, unreachable server)."""


class Database:
    """One open connection and its dialect; a transaction is ``with db.transaction():``."""

    def __init__(self, connection: Connection, dialect: Dialect, url: str) -> None:
        self._connection = connection
        self.dialect = dialect
        self.url = url
        self._depth = 0

    def execute(self, statement: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        cursor = self._connection.execute(self.dialect.sql(statement), tuple(params))
        return int(cursor.rowcount)

    def query(self, statement: str, params: Params = ()) -> list[Row]:
        """Rows of one statement; outside a transaction it ends the read at once, so a
        long-lived connection never holds an old snapshot (or a PostgreSQL transaction) open."""
        cursor = self._connection.execute(self.dialect.sql(statement), tuple(params))
        rows = [tuple(row) for row in cursor.fetchall()]
        if not self._depth:
            self._connection.commit()
        return rows

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """Commit everything done inside, or nothing of it when an exception leaves."""
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._connection.rollback()
            raise
        else:
            if self._depth == 1:  # an inner block is part of the outer transaction
                self._connection.commit()
        finally:
            self._depth -= 1

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def redacted(url: str) -> str:
    """``url`` fit to print: a password in it is replaced by ``***``."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_database(url: str) -> Database:
    """A SQLite file path (created when missing) or a ``postgresql://`` URL."""
    if is_postgresql(url):
        return _open_postgresql(url)
    if "://" in url:
        raise DatabaseError(f"{url.split('://', maxsplit=1)[0]}:// databases are not supported")
    path = Path(url)
    if not path.parent.is_dir():
        raise DatabaseError(f"{path.parent} is not a folder")
    if path.is_dir():
        raise DatabaseError(f"{path} is a folder, not a SQLite database file")
    try:
        # Transactions by hand (isolation_level=None, explicit BEGIN): sqlite3's implicit ones
        # would not cover a statement that only reads.
        connection = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open the SQLite database {path}: {exc}") from exc
    return Database(_SqliteTransactions(connection), SQLITE, str(path))


class _SqliteTransactions:
    """sqlite3 in autocommit mode with a BEGIN before the first statement of a transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        if not self._connection.in_transaction:
            self._connection.execute("BEGIN")
        return self._connection.execute(sql, params)

    def commit(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("COMMIT")

    def rollback(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")

    def close(self) -> None:
        self.rollback()
        self._connection.close()


def _open_postgresql(url: str) -> Database:
    try:
        import psycopg  # noqa: PLC0415 - only a clinic's server needs it
    except ImportError as exc:
        raise DatabaseError(
            "PostgreSQL needs psycopg, in the 'console' extra: pip install -e '.[console]'"
        ) from exc

    try:
        connection = psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the PostgreSQL database: {exc}") from exc
    return Database(connection, POSTGRESQL, url)
