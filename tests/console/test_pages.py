"""The pages over a real server (`vagus console serve`), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import msgspec
import pytest

from closedloop.policy_log import PolicyState
from closedloop.policy_store import candidate
from console import create_schema, open_database
from console.spans import merge_sleep
from console.store import Record, store_batch
from console.svg import Band, Panel, render_timeline, utc
from stream.events import AnyEvent, PolicySnapshot
from tests.console.conftest import ENGINES
from tests.console.events import PATIENT, T0, S, encoded, score, story
from tests.console.events import decision as decision_event
from tests.console.postgres import fresh_database
from tests.console.server import Client, add_people, console_server, logged_in


def policy_records() -> list[AnyEvent]:
    """A forged v1 (no audit entry) first in the log, then a clinician's audited v1."""
    audited = candidate(
        PolicyState(0, PolicySnapshot()),
        PolicySnapshot(score_threshold=0.6),
        patient_id=PATIENT,
        actor="clinician:c-17",
        reason="fewer false alarms",
    )
    forged = msgspec.structs.replace(
        audited, event_id="forged-0001", audit=None, policy=PolicySnapshot(score_threshold=0.1)
    )
    return [forged, audited]


#: A hold reason with markup in it: it must reach the page as text.
MARKUP_REASON = "<b>quiet hours</b>"


@pytest.fixture(scope="module", params=ENGINES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    """One server per engine for the whole module (starting one takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("pages")
    if request.param == "sqlite":
        database = str(tmp_path / "console.db")
    else:
        server: str = request.getfixturevalue("postgres_server")
        database = fresh_database(server, f"pages_{uuid.uuid4().hex[:12]}")
    events = story()
    events.append(decision_event(99, MARKUP_REASON, score(35, 0.3)))
    events += policy_records()
    with open_database(database) as db:
        create_schema(db)
        store_batch(db, "t.all", 0, [Record(i, p) for i, p in enumerate(encoded(events))])
    add_people(database, (PATIENT,))
    with console_server(database, log=tmp_path / "serve.log") as url:
        yield logged_in(url, "clinician")


def test_serve_binds_to_loopback_by_default(served: Client) -> None:
    assert served.base.startswith("http://127.0.0.1:")


def test_patient_list_shows_status_and_the_no_data_alert(served: Client) -> None:
    status, page = served.get("/")
    assert status == 200
    row = page[page.index(f'data-patient="{PATIENT}"') :]
    assert f'href="/patients/{PATIENT}"' in row
    assert utc(T0 + 39 * 10 * S) in row  # last data: the 40th window
    assert "ecg: ok (100%)" in row
    assert "paced_breathing · completed" in row
    assert "no data for 2 h" in row  # the story is months before the clock


def test_patient_page_draws_the_timeline_with_session_and_threshold(served: Client) -> None:
    status, page = served.get(f"/patients/{PATIENT}")
    assert status == 200
    assert page.count('<g class="panel"') == 4
    for title in ("Heart rate", "RMSSD", "SCR rate", "Stress probability"):
        assert f'data-title="{title}"' in page
    assert '<g class="session"><title>paced_breathing · completed</title>' in page
    assert '<g class="threshold"><title>policy threshold</title>' in page
    assert page.count("<circle ") == 11  # one dot per decision, each a link to its why
    assert "2026-03-10T14:23:20Z" in page  # the session's start, in the table
    assert page.count('<g class="episode"><title>stress episode</title>') == 1
    assert page.count('<g class="sleep"><title>asleep</title>') == 1  # two epochs, one span
    assert "<tr><th>RMSSD ms</th><td>41.5</td><td>30</td><td>36</td><td>-5.5</td></tr>" in page
    assert (
        "<tr><td>paced_breathing</td><td>RMSSD ms</td><td>1</td><td>-5.5</td>"
        '<td><span class="muted">one session: no interval</span></td></tr>'
    ) in page


def test_a_chosen_range_without_the_session_omits_it(served: Client) -> None:
    start, end = quote(utc(T0)[:19]), quote(utc(T0 + 150 * S)[:19])
    status, page = served.get(f"/patients/{PATIENT}?from={start}&to={end}")
    assert status == 200
    assert "No session in this range." in page
    assert '<g class="session">' not in page


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday&to=today",
        "from=2026-03-10T15:00",
        "from=2026-03-10T15:00&to=2026-03-10T14:00",
    ],
)
def test_a_range_that_cannot_be_read_is_a_bad_request(served: Client, query: str) -> None:
    status, page = served.get(f"/patients/{PATIENT}?{query}")
    assert status == 400
    assert 'class="alert"' in page


@pytest.mark.parametrize("path", ["/patients/alice", "/patients/p-zzzzzzzzzzzz", "/decisions/x"])
def test_unknown_or_malformed_ids_are_not_found(served: Client, path: str) -> None:
    status, _ = served.get(path)
    assert status == 404


def test_why_names_the_limit_that_held(served: Client) -> None:
    status, page = served.get("/decisions/decision-0021")
    assert status == 200
    assert "The loop <strong>held</strong>: cooldown of 1800 s since the last session" in page
    assert "Limit: <strong>cooldown</strong> (cooldown since the last session)" in page
    assert "<th>score_threshold</th><td>0.7</td>" in page  # the default policy, version 0
    assert "<th>z_hrv_rmssd</th><td>-2.5</td>" in page  # the trigger's values


def test_why_of_a_session_links_the_session(served: Client) -> None:
    status, page = served.get("/decisions/decision-0020")
    assert status == 200
    assert "started a session" in page
    assert "paced_breathing · completed, 2026-03-10T14:23:22Z" in page


def test_text_from_events_is_escaped(served: Client) -> None:
    status, page = served.get("/decisions/decision-0099")
    assert status == 200
    assert MARKUP_REASON not in page
    assert html.escape(MARKUP_REASON, quote=False) in page


def test_the_svg_says_when_a_panel_has_no_data() -> None:
    figure = render_timeline(
        [Panel("Heart rate", "bpm", []), Panel("RMSSD", "ms", [(T0, 30.0), (T0 + S, 35.0)])],
        [Band(T0 + S // 2, T0 + S, "paced_breathing · <started>")],
        T0,
        T0 + S,
    )
    assert figure.count("no data in range") == 1
    assert figure.count("<polyline") == 1
    assert "&lt;started&gt;" in figure


def test_consecutive_sleep_epochs_merge_and_wake_or_a_gap_ends_them() -> None:
    epochs = [
        (0, 30, "sleep"),
        (30, 60, "sleep"),
        (60, 90, "wake"),
        (90, 120, "sleep"),
        (150, 180, "sleep"),
    ]
    assert merge_sleep(epochs) == [(0, 60), (90, 120), (150, 180)]


def test_policy_history_follows_the_loop_s_rule(served: Client) -> None:
    status, page = served.get(f"/patients/{PATIENT}/policy")
    assert status == 200
    assert "<h2>Current: version 1</h2>" in page
    assert "<tr><th>score_threshold</th><td>0.6</td></tr>" in page
    accepted = page[
        page.index('<table id="accepted">') : page.index(
            "</table>", page.index('<table id="accepted">')
        )
    ]
    assert "clinician:c-17" in accepted and "fewer false alarms" in accepted
    assert "score_threshold: 0.7 → 0.6" in accepted
    refused = page[page.index('<table id="refused">') :]
    assert "no audit entry" in refused
    assert "0.1" not in accepted


def test_the_timeline_exports_as_csv(served: Client) -> None:
    url = f"/patients/{PATIENT}/timeline.csv"
    status, text, headers = served.request(url)
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    assert f'filename="{PATIENT}-timeline.csv"' in headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "time_utc",
        "time_ns",
        "heart_rate_bpm",
        "rmssd_ms",
        "scr_rate_per_min",
        "stress_score",
    ]
    assert len(rows) == 1 + 40
    assert rows[1] == [utc(T0), str(T0), "60.0", "40.0", "1.0", "0.2"]
    start, end = quote(utc(T0)[:19]), quote(utc(T0 + 95 * S)[:19])
    _, body = served.get(f"{url}?from={start}&to={end}")
    assert len(body.splitlines()) == 1 + 10  # windows 0-9


def test_the_patient_page_links_the_csv_of_its_range(served: Client) -> None:
    _, page = served.get(f"/patients/{PATIENT}")
    link = html.unescape(page.split('<a id="csv" href="', 1)[1].split('"', 1)[0])
    _, body = served.get(link)
    assert len(body.splitlines()) == 1 + 40


def test_the_patient_page_exports_its_range_as_a_fhir_bundle(served: Client) -> None:
    """The same Bundle as `vagus export fhir` for the range shown, validated by a FHIR library;
    the subject is the pseudonym and nothing else."""
    from fhir.resources.R4B.bundle import Bundle  # R4B validates the R4 elements used

    _, page = served.get(f"/patients/{PATIENT}")
    link = html.unescape(page.split('<a id="fhir" href="', 1)[1].split('"', 1)[0])
    status, text, headers = served.request(link)
    assert status == 200 and headers["content-type"].startswith("application/fhir+json")
    assert f'filename="{PATIENT}-fhir.json"' in headers["content-disposition"]
    bundle = msgspec.json.decode(text)
    Bundle.model_validate(bundle)
    subjects = {e["resource"]["subject"]["reference"] for e in bundle["entry"]}
    assert subjects == {f"Patient/{PATIENT}"}
    heart = [
        e for e in bundle["entry"]
        if e["resource"]["code"]["coding"][0].get("code") == "8867-4"
    ]  # fmt: skip
    assert len(heart) == 40  # one per window of the range shown
