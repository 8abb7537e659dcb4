"""Which limit held a session back, named from the closed loop's hold reason.

``LoopDecision.hold_reason`` is a sentence for people (closedloop/decision.py and
closedloop/signal_quality.py write it); the console names the limit it comes from so that
a clinician can filter and count holds by limit. The sentence is always shown as well.
"""

from __future__ import annotations

#: (limit, how its reasons begin), first match wins; the order mirrors closedloop.decision.
LIMITS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("already_acted", ("this episode already had a session",)),
    ("poor_signal", ("signal quality:", "poor_signal")),
    ("stale_signal", ("stale_signal",)),
    ("below_threshold", ("score ",)),
    ("session_running", ("a session is running",)),
    ("patient_not_now", ("the patient said not now",)),
    ("daily_cap", ("daily cap",)),
    ("cooldown", ("cooldown",)),
    ("quiet_hours", ("quiet hours",)),
    ("sleep", ("patient asleep",)),
    ("micro_randomised", ("micro-randomised",)),
)

#: What each limit means, in the words the "why" page uses.
DESCRIPTIONS = {
    "already_acted": "one session per stress episode",
    "poor_signal": "signal quality too poor to act on",
    "stale_signal": "no recent signal-quality report",
    "below_threshold": "stress score below the policy threshold",
    "session_running": "a session was already running",
    "patient_not_now": 'the patient pressed "not now"',
    "daily_cap": "daily cap of sessions",
    "cooldown": "cooldown since the last session",
    "quiet_hours": "quiet hours",
    "sleep": "the patient was asleep",
    "micro_randomised": "micro-randomisation chose no session",
    "other": "a limit the console does not name yet",
}


def hold_limit(reason: str) -> str | None:
    """The limit behind ``reason`` (``None`` when nothing held: a session started)."""
    if not reason:
        return None
    for limit, prefixes in LIMITS:
        if reason.startswith(prefixes):
            return limit
    return "other"
