"""Tuning a policy in the console: the CLI's validation, a preview by the real decision step,
and the audited publish (the routes are in test_tuning_routes.py)."""

from __future__ import annotations

import msgspec
import pytest

from closedloop.decision import PatientLoopState, step
from closedloop.policy import SAFE_RANGES, PolicyError, with_changes
from closedloop.policy_store import parse_assignments
from console import create_schema, open_database
from console.store import Record, store_batch
from console.tuning import form_fields, proposal
from console.tuning_preview import preview
from stream.events import AnyEvent, PolicySnapshot
from tests.console.events import PATIENT, T0, S, encoded, episode, quality, score, story

CURRENT = PolicySnapshot()
END = T0 + 3600 * S  # an hour after the stored story begins


def cli_refusal(*assignments: str) -> str:
    """What `vagus policy set` says for ``assignments`` (its functions, in its order)."""
    with pytest.raises(PolicyError) as refused:
        with_changes(CURRENT, parse_assignments(list(assignments)))
    return str(refused.value)


def form(**changes: str) -> dict[str, str]:
    """The form as the page sends it: every key at its current value, ``changes`` typed in."""
    return {f.name: f.value for f in form_fields(CURRENT)} | changes


@pytest.mark.parametrize(
    "changes",
    [
        {"score_threshold": "0.3"},
        {"cooldown_s": "10"},
        {"max_sessions_per_day": "20", "intensity": "0.95"},
        {"cooldown_s": "nan"},
        {"timezone": "Mars/Olympus"},
        {"modalities": "paced_breathing,paced_breathing"},
        {"quiet_hours_start": ""},
        {"max_sessions_per_day": "two"},
    ],
)
def test_the_form_is_refused_with_the_cli_s_words(changes: dict[str, str]) -> None:
    with pytest.raises(PolicyError) as refused:
        proposal(CURRENT, form(**changes))
    assert str(refused.value) == cli_refusal(*(f"{k}={v}" for k, v in changes.items()))


def test_a_value_outside_its_safe_range_names_the_range() -> None:
    low, high = SAFE_RANGES["score_threshold"]
    with pytest.raises(PolicyError, match=rf"outside the safe range \[{low:g}, {high:g}\]"):
        proposal(CURRENT, form(score_threshold=str(low / 2)))


def test_a_form_that_changes_nothing_is_refused() -> None:
    with pytest.raises(PolicyError, match="leaves the policy as it is"):
        proposal(CURRENT, form())


def test_a_valid_form_becomes_the_cli_s_assignments() -> None:
    made = proposal(CURRENT, form(score_threshold="0.8", cooldown_s="1800"))
    assert made.assignments == ["score_threshold=0.8"]  # cooldown_s reads back as the current
    assert made.policy == msgspec.structs.replace(CURRENT, score_threshold=0.8)


def test_the_form_shows_each_safe_range() -> None:
    shown = {f.name: f.safe_range for f in form_fields(CURRENT)}
    assert shown["cooldown_s"] == "[600, 86400]"
    assert shown["timezone"] == ""


def stored(database: str, events: list[AnyEvent]) -> None:
    with open_database(database) as db:
        create_schema(db)
        store_batch(db, "t.all", 0, [Record(i, p) for i, p in enumerate(encoded(events))])


def test_raising_the_threshold_would_not_have_started_the_session(database: str) -> None:
    """The story's episode starts at 0.9 with the default 0.7: a session started at window 20."""
    stored(database, story())
    raised = msgspec.structs.replace(CURRENT, score_threshold=0.95)
    with open_database(database) as db:
        found = preview(db, PATIENT, CURRENT, raised, end_ns=END)
    (change,) = found.changes
    assert change.change == "would not start"
    assert change.time_ns == T0 + 200 * S
    assert change.reason == "score 0.90 below threshold 0.95"
    assert change.limit == "stress score below the policy threshold"
    assert change.day == "2026-03-10"
    assert (found.sessions_current, found.sessions_proposed) == (1, 0)
    # Decision moments: the episode's start, then each score while it is open (windows 21-30;
    # the end is stored after window 30's score).
    assert found.decisions == 11


def low_scoring_episode() -> list[AnyEvent]:
    """An episode whose scores (0.6) stay under the default threshold of 0.7."""
    events: list[AnyEvent] = [quality(0)]
    for i in range(40):
        events.append(score(i, 0.6 if 20 <= i < 30 else 0.2))
        if i == 20:
            events.append(msgspec.structs.replace(episode(i, "start", i), score=0.6))
        elif i == 30:
            events.append(episode(i, "end", 20))
    return events


def test_lowering_the_threshold_would_have_started_one_session(database: str) -> None:
    stored(database, low_scoring_episode())
    lowered = msgspec.structs.replace(CURRENT, score_threshold=0.55)
    with open_database(database) as db:
        found = preview(db, PATIENT, CURRENT, lowered, end_ns=END)
    (change,) = found.changes
    assert change.change == "would start"
    assert change.time_ns == T0 + 200 * S
    assert change.reason == "score 0.60 below threshold 0.70"  # why the current policy held
    assert [(d.day, d.current, d.proposed) for d in found.days] == [("2026-03-10", 0, 1)]


def test_quiet_hours_over_the_episode_would_hold_it(database: str) -> None:
    """The story's session (14:23 UTC) falls inside quiet hours 14:00-15:00."""
    stored(database, story())
    quiet = msgspec.structs.replace(CURRENT, quiet_hours_start=14, quiet_hours_end=15)
    with open_database(database) as db:
        found = preview(db, PATIENT, CURRENT, quiet, end_ns=END)
    assert [(c.change, c.limit) for c in found.changes] == [("would not start", "quiet hours")]


def test_the_same_policy_changes_nothing_and_data_outside_the_days_is_left_out(
    database: str,
) -> None:
    stored(database, story())
    with open_database(database) as db:
        same = preview(db, PATIENT, CURRENT, CURRENT, end_ns=END)
        later = preview(
            db,
            PATIENT,
            CURRENT,
            msgspec.structs.replace(CURRENT, score_threshold=0.95),
            end_ns=END + 8 * 86_400 * S,
        )
    assert same.changes == [] and same.sessions_current == 1
    assert later.decisions == 0 and later.changes == []


def two_episodes_twenty_minutes_apart() -> list[AnyEvent]:
    """Two high-scoring episodes, starting at 14:23:20 and 14:43:20 UTC."""
    second = {"episode_id": "episode-0002"}
    return [
        quality(0),
        episode(20, "start", 20),
        episode(25, "end", 20),
        msgspec.structs.replace(episode(140, "start", 140), **second),
        msgspec.structs.replace(episode(145, "end", 140), **second),
    ]


@pytest.mark.parametrize(
    ("now", "proposed", "change", "limit"),
    [
        ({}, {"cooldown_s": 600.0}, "would start", "cooldown since the last session"),
        (
            {"cooldown_s": 600.0},
            {"cooldown_s": 600.0, "max_sessions_per_day": 1},
            "would not start",
            "daily cap of sessions",
        ),
    ],
)
def test_cooldown_and_daily_cap_changes_name_their_limit(
    database: str, now: dict[str, float], proposed: dict[str, float], change: str, limit: str
) -> None:
    stored(database, two_episodes_twenty_minutes_apart())
    current = msgspec.structs.replace(CURRENT, **now)
    with open_database(database) as db:
        found = preview(
            db, PATIENT, current, msgspec.structs.replace(CURRENT, **proposed), end_ns=END
        )
    (changed,) = found.changes
    assert (changed.change, changed.limit) == (change, limit)
    assert changed.time_ns == T0 + 1400 * S  # the second episode's start


def test_the_replay_reproduces_decisions_the_loop_logged_with_the_current_policy(
    database: str,
) -> None:
    """Decisions logged by the decision step itself are all taken the same way by the replay;
    the hand-written story's are not all (its session is triggered by a score, before the
    episode opens), and the check says so."""
    inputs = two_episodes_twenty_minutes_apart()
    state = PatientLoopState(policy=CURRENT)
    logged = [step(state, event, producer_id="worker").decision for event in inputs]
    decisions = [d for d in logged if d is not None]
    stored(database, [*inputs, *decisions])
    proposed = msgspec.structs.replace(CURRENT, cooldown_s=600.0)
    with open_database(database) as db:
        found = preview(db, PATIENT, CURRENT, proposed, end_ns=END)
    assert found.stored == len(decisions) == 2
    assert found.reproduced == 2


def test_the_check_counts_decisions_the_replay_takes_otherwise(database: str) -> None:
    stored(database, story())
    with open_database(database) as db:
        found = preview(db, PATIENT, CURRENT, CURRENT, end_ns=END)
    assert found.stored == 10  # the story's logged decisions: windows 20-29
    assert found.reproduced == 9  # window 20's score came before its episode opened
