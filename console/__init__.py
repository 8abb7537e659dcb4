"""The clinician console: the event topics kept in a database, and server-rendered pages over it.

A library, wired to the command line by ``vagus console``. The database (SQLite by default,
PostgreSQL in a clinic) is filled by :mod:`console.ingest` idempotently by event id, with each
partition's next offset stored in the same transaction as the rows it accounts for, so an ingest
killed at any moment resumes with no gap and no repeat. :mod:`console.web` serves the pages.
"""

from console.db import Database, open_database
from console.ingest import IngestResult, ingest_until_caught_up, run_ingest
from console.schema import create_schema

__all__ = [
    "Database",
    "IngestResult",
    "create_schema",
    "ingest_until_caught_up",
    "open_database",
    "run_ingest",
]
