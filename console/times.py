"""Times a clinician types: ISO 8601, UTC unless an offset says otherwise."""

from __future__ import annotations

import datetime as dt


class BadRangeError(ValueError):
    """A time range the clinician typed that cannot be read."""


def parse_utc(text: str) -> int:
    """``2026-12-03T17:59`` or with seconds or a ``Z``/offset -> Unix ns (naive means UTC)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRangeError(
            f"{text!r} is not an ISO date and time (e.g. 2026-12-03T17:59)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000
