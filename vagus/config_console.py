"""``[console]``: where the clinician console keeps its database, for commands beside it.

Only what other commands need to know about the console lives here: ``vagus policy set`` refuses
a patient the console's enrolment registry does not hold when ``database`` is set.
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class ConsoleSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    #: A SQLite file path or a ``postgresql://`` URL; unset: no enrolment check outside the
    #: console (the console always checks its own registry).
    database: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | None = None
