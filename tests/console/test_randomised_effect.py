"""The micro-randomised effect: Welch's interval against scipy, the control change from stored
measurements around a randomised-out decision, which sessions count as randomised, and the
patient page (on SQLite and PostgreSQL, through Starlette's TestClient behind the sign-in)."""

from __future__ import annotations

import statistics

import msgspec
import numpy as np
import pytest
from scipy import stats
from starlette.testclient import TestClient

from closedloop.policy_log import PolicyState
from closedloop.policy_store import candidate
from console import create_schema, open_database
from console.pages import RESPONSE_METRICS
from console.randomised_effect import (
    ALL_MODALITIES,
    Comparison,
    Difference,
    comparison,
    difference,
    t_975_real,
    welch,
)
from console.store import Record, store_batch
from console.web import create_app
from stream.events import AnyEvent, Modality, PolicySnapshot, SessionEvaluation
from tests.console.events import PATIENT, T0, S, encoded, score, story, window
from tests.console.events import decision as decision_event
from tests.console.server import add_people
from tests.console.test_password_change import log_in

HOLD = "micro-randomised to no session (p=0.5)"
RANDOMISING = PolicySnapshot(randomisation_probability=0.5)


# --- the statistics -----------------------------------------------------------------------


def test_the_fractional_t_quantile_matches_scipy() -> None:
    # the table holds three decimals (0.025 % of t at df 30), and the interpolation adds little
    for df in [*np.arange(1.0, 40.0, 0.05), 55.5, 130.25, 999.9]:
        assert t_975_real(float(df)) == pytest.approx(stats.t.ppf(0.975, df), rel=3e-4), df


def test_a_t_quantile_needs_a_degree_of_freedom() -> None:
    with pytest.raises(ValueError, match="degree of freedom"):
        t_975_real(0.9)


def test_welch_interval_is_scipys() -> None:
    treated = [-9.4, -3.1, -6.0, 1.2, -4.4]
    control = [2.0, -1.5, 4.2, 0.3]
    found = welch(treated, control)
    assert found is not None
    result = stats.ttest_ind(treated, control, equal_var=False)
    interval = result.confidence_interval(0.95)
    assert found.df == pytest.approx(result.df, rel=1e-12)
    assert found.estimate == pytest.approx(statistics.fmean(treated) - statistics.fmean(control))
    # the quantile is within 0.03 % of scipy's, and so is the half-width
    tolerance = 3e-4 * (interval.high - interval.low) / 2
    assert found.low == pytest.approx(interval.low, abs=tolerance)
    assert found.high == pytest.approx(interval.high, abs=tolerance)
    # and by hand: Welch-Satterthwaite's df, textbook form
    v1, v2 = statistics.variance(treated) / 5, statistics.variance(control) / 4
    assert found.df == pytest.approx((v1 + v2) ** 2 / (v1**2 / 4 + v2**2 / 3))


def test_no_interval_with_fewer_than_two_on_a_side() -> None:
    assert welch([1.0, 2.0], [3.0]) is None
    assert welch([1.0], [3.0, 4.0]) is None
    assert welch([1.0, 1.0], [3.0, 3.0]) is None  # no spread at all: no interval
    one = difference(ALL_MODALITIES, "stress", [-0.2, -0.4], [0.1])
    assert (one.n_treated, one.n_control, one.low, one.high) == (2, 1, None, None)
    assert one.estimate == pytest.approx(-0.4)
    none = difference(ALL_MODALITIES, "stress", [-0.2], [])
    assert (none.estimate, none.mean_control) == (None, None)


# --- from the console's tables ------------------------------------------------------------


def point(i: int, version: int, hold: str = "") -> list[AnyEvent]:
    """A decision at window ``i`` (with the score that triggered it) under ``version``."""
    trigger = score(i, 0.2 + 0.001 * i)
    made = decision_event(i, hold, trigger)
    return [msgspec.structs.replace(made, policy_version=version)]


def evaluated(
    i: int, changes: dict[str, float], modality: Modality = "paced_breathing"
) -> SessionEvaluation:
    return SessionEvaluation(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=T0 + (i * 10 + 700) * S,
        command_id=f"command-{i:04d}",
        modality=modality,
        outcome="completed",
        session_start_ns=T0 + (i * 10 + 2) * S,
        session_end_ns=T0 + (i * 10 + 302) * S,
        metrics={f"{key}_change": value for key, value in changes.items()},
    )


def measured(count: int) -> list[AnyEvent]:
    """``count`` windows (heart rate 60 + i, RMSSD 40 - i) and scores 0.2 + 0.001 i, 10 s apart."""
    events: list[AnyEvent] = []
    for i in range(count):
        events += [window(i), score(i, 0.2 + 0.001 * i)]
    return events


def version_one(**changes: float) -> AnyEvent:
    """Version 1 after the tests' default (the loop refuses an audit of another change)."""
    return candidate(
        PolicyState(0, RANDOMISING),
        msgspec.structs.replace(RANDOMISING, **changes),
        patient_id=PATIENT,
        actor="clinician:c-17",
        reason="randomise",
    )


def stored(database: str, events: list[AnyEvent]) -> None:
    with open_database(database) as db:
        create_schema(db)
        store_batch(db, "t.all", 0, [Record(i, p) for i, p in enumerate(encoded(events))])


def compared(database: str, default: PolicySnapshot = RANDOMISING) -> Comparison:
    with open_database(database) as db:
        return comparison(db, PATIENT, default, RESPONSE_METRICS)


def row(found: Comparison, metric: str, modality: str = ALL_MODALITIES) -> Difference:
    return next(d for d in found.differences if (d.metric, d.modality) == (metric, modality))


def test_the_control_change_comes_from_measurements_around_the_decision(database: str) -> None:
    # held at 500 s; the default session would have run 300 s, so: before [200, 500] s (windows
    # 20-50, median 35), after [860, 1160] s (windows 86-116, median 101): heart rate 161 - 95
    stored(database, [*measured(130), *point(50, 0, HOLD)])
    found = compared(database)
    assert (found.ran, found.treated_points, found.control_points) == (True, 0, 1)
    heart, rmssd, stress = (row(found, m) for m in ("heart rate bpm", "RMSSD ms", "stress"))
    assert (heart.n_control, heart.n_treated, heart.estimate) == (1, 0, None)
    assert heart.mean_control == pytest.approx(66.0)
    assert rmssd.mean_control == pytest.approx(-66.0)
    assert stress.mean_control == pytest.approx(0.001 * 66)


def test_the_after_span_follows_the_decision_s_policy_duration(database: str) -> None:
    # version 1 runs 600 s sessions: after [1160, 1460] s (windows 116-146, median 131)
    longer = version_one(randomisation_probability=0.5, session_duration_s=600.0)
    stored(database, [*measured(160), longer, *point(50, 1, HOLD)])
    assert row(compared(database), "heart rate bpm").mean_control == pytest.approx(96.0)


def test_a_control_without_data_in_a_span_is_left_out(database: str) -> None:
    stored(database, [*measured(86), *point(50, 0, HOLD)])  # data end at 850 s: before 860 s
    found = compared(database)
    assert found.control_points == 1 and found.differences == []


def test_only_sessions_that_faced_the_coin_are_treated_points(database: str) -> None:
    stored(database, story())  # one session, under version 0, evaluated: RMSSD -5.5
    never = compared(database, PolicySnapshot())  # the default does not randomise
    assert (never.ran, never.treated_points, never.differences) == (False, 0, [])
    treated = compared(database, RANDOMISING)
    assert (treated.ran, treated.treated_points, treated.control_points) == (True, 1, 0)
    rmssd = row(treated, "RMSSD ms")
    assert (rmssd.n_treated, rmssd.mean_treated, rmssd.estimate) == (1, -5.5, None)


def test_a_randomised_hold_shows_its_version_randomised(database: str) -> None:
    # the console's default says p = 0, but the loop held a moment at random under version 0
    stored(database, [*story(), *point(35, 0, HOLD)])
    assert compared(database, PolicySnapshot()).treated_points == 1


def test_a_session_under_a_version_the_console_never_saw_is_counted_apart(database: str) -> None:
    stored(database, [*point(10, 7), evaluated(10, {"rmssd_ms": 3.0})])
    found = compared(database)
    assert (found.ran, found.treated_points, found.unknown_policy) == (False, 0, 1)


def test_each_modality_gets_rows_when_both_have_enough_sessions(database: str) -> None:
    events = [*measured(400), *point(50, 0, HOLD), *point(200, 0, HOLD)]
    for i, modality, change in (
        (100, "paced_breathing", -10.0),
        (150, "paced_breathing", -20.0),
        (250, "vibroacoustic", 5.0),
        (300, "vibroacoustic", 15.0),
    ):
        events += [*point(i, 0), evaluated(i, {"heart_rate_bpm": change}, modality)]  # type: ignore[arg-type]
    stored(database, events)
    found = compared(database)
    assert (found.treated_points, found.control_points) == (4, 2)
    overall = row(found, "heart rate bpm")
    assert (overall.n_treated, overall.n_control) == (4, 2)
    assert overall.mean_treated == pytest.approx(-2.5)
    assert overall.mean_control == pytest.approx(66.0)
    breathing = row(found, "heart rate bpm", "paced_breathing")
    assert (breathing.n_treated, breathing.mean_treated) == (2, -15.0)
    assert breathing.estimate == pytest.approx(-15.0 - 66.0)
    assert breathing.low is not None and breathing.high is not None  # controls agree: df = 1
    assert row(found, "heart rate bpm", "vibroacoustic").mean_treated == pytest.approx(10.0)


# --- the patient page ---------------------------------------------------------------------


def page(database: str, default: PolicySnapshot) -> str:
    web = create_app(
        database, default_policy=default, clock_ns=lambda: T0 + 400 * S, secure_cookies=False
    )
    client = TestClient(web, follow_redirects=False)
    assert log_in(client, "admin") == 303
    answer = client.get(f"/patients/{PATIENT}")
    assert answer.status_code == 200
    return answer.text


def test_the_page_shows_the_estimate_with_its_interval(database: str) -> None:
    add_people(database)
    longer = version_one(randomisation_probability=0.5, session_duration_s=600.0)
    # controls: 66 under version 0 (300 s sessions), 96 under version 1 (600 s)
    events = [*measured(700), longer, *point(50, 0, HOLD), *point(300, 1, HOLD)]
    treated = {150: -10.0, 450: 4.0, 600: -3.0}
    for i, change in treated.items():
        events += [*point(i, 1), evaluated(i, {"heart_rate_bpm": change})]
    events += [*point(650, 0)]  # under the console's default: p = 0.5 too, never evaluated
    stored(database, events)
    text = page(database, RANDOMISING)
    assert "Randomised decision points: 4 with a session, 2 randomised to no session." in text
    result = stats.ttest_ind(list(treated.values()), [66.0, 96.0], equal_var=False)
    interval = result.confidence_interval(0.95)
    estimate = statistics.fmean(treated.values()) - 81.0
    # scipy's numbers, as the page rounds them (3 significant digits)
    expected = (
        f"<tr><td>{ALL_MODALITIES}</td><td>heart rate bpm</td><td>3</td><td>2</td>"
        f"<td>{statistics.fmean(treated.values()):.3g}</td><td>81</td><td>{estimate:.3g}</td>"
        f"<td>{interval.low:.3g} to {interval.high:.3g}</td></tr>"
    )
    assert expected in text
    assert "This is the causal estimate" in text and "is not causal" in text
    assert 'id="randomised-never"' not in text


def test_the_page_says_when_micro_randomisation_never_ran(database: str) -> None:
    add_people(database)
    stored(database, [*story(), *point(35, 7), evaluated(35, {"rmssd_ms": 3.0})])
    text = page(database, PolicySnapshot())
    assert "Micro-randomisation never ran for this patient" in text
    assert "1 session(s) ran under a policy version the console has no record of" in text
    assert 'id="randomised"' not in text


def test_the_spans_query_returns_each_span_what_a_query_per_span_returns(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control points' measurements come in one statement per SPANS_PER_QUERY spans;
    overlapping spans, an empty one and a chunk boundary give what one query each gives."""
    from console import queries

    stored(database, measured(60))
    keys = tuple(key for _, key in RESPONSE_METRICS)
    spans = [(T0, T0 + 100 * S), (T0 + 50 * S, T0 + 200 * S), (T0 - 90 * S, T0 - S)]
    spans += [(T0 + 590 * S, T0 + 10_000 * S)]
    monkeypatch.setattr(queries, "SPANS_PER_QUERY", 3)
    with open_database(database) as db:
        batched = queries.measurements_in_spans(db, PATIENT, keys, spans)
        one_each = [queries.measurements(db, PATIENT, keys, lo, hi) for lo, hi in spans]
    assert [len(found) for found in batched] == [len(found) for found in one_each]
    assert [sorted(found) for found in batched] == [sorted(found) for found in one_each]
    assert batched[0] and batched[1] and not batched[2] and batched[3]
