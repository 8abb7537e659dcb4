"""`vagus demo --console-db DB`: the demo's topics into a clinician console database.

Run after the replay, while the demo's broker is still up, so that `vagus console serve --db DB`
shows the demo patient afterwards without a broker.
"""

from __future__ import annotations

from typing import Any

from console import create_schema, ingest_until_caught_up, open_database
from console.db import redacted
from stream.settings import KafkaSettings


async def fill_console_db(kafka: KafkaSettings, database: str) -> dict[str, Any]:
    """Ingest everything on the demo's event topics into ``database``; the summary's keys."""
    with open_database(database) as db:
        create_schema(db)
        result = await ingest_until_caught_up(kafka, db)
    return {
        "console_db": redacted(database),
        "console_events_stored": result.stored,
        "console_ingest_errors": result.errors,
    }
