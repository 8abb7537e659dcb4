"""The tuning routes through Starlette's TestClient, on SQLite and PostgreSQL.

The account normally comes from the accounts middleware; here a tiny test middleware
(:class:`FakeAccount`) puts one on ``request.scope["account"]`` from an ``x-test-account:
role:name`` header, and a request without that header has no account at all.
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass

import msgspec
import pytest
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from closedloop.policy_store import Published
from console import create_schema, ingest_until_caught_up, open_database
from console.policies import policy_log
from console.registry import enrol
from console.store import Record, store_batch
from console.tuning import FIELDS, Publish, kafka_publisher
from console.tuning_routes import tuning_routes
from console.web import create_app
from stream.events import PolicySnapshot
from stream.settings import KafkaSettings
from tests.console.events import PATIENT, T0, S, encoded, story
from tests.console.server import PASSWORD, add_people
from vagus.demo import create_topics

END = T0 + 3600 * S
CLINICIAN = {"x-test-account": "clinician:c-17"}
TUNING = f"/patients/{PATIENT}/tuning"


@dataclass(frozen=True)
class Account:
    name: str
    role: str


class FakeAccount:
    """Test stand-in for the accounts middleware: the account named by a request header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"x-test-account":
                    role, _, name = value.decode().partition(":")
                    scope["account"] = Account(name, role)
        await self.app(scope, receive, send)


async def never_publish(patient: str, assignments: list[str], actor: str, reason: str) -> Published:
    raise AssertionError("nothing may be published here")


def client(database: str, publish: Publish = never_publish) -> TestClient:
    routes = tuning_routes(database, publish, clock_ns=lambda: END)
    return TestClient(Starlette(routes=routes, middleware=[Middleware(FakeAccount)]))


@pytest.fixture
def console_db(database: str) -> str:
    """The console story stored, the patient enrolled."""
    with open_database(database) as db:
        create_schema(db)
        store_batch(db, "t.all", 0, [Record(i, p) for i, p in enumerate(encoded(story()))])
        enrol(db, PATIENT, "clinician:c-1", T0)
    return database


def current_form(**changes: str) -> dict[str, str]:
    policy = msgspec.structs.asdict(PolicySnapshot())
    shown = {name: "" if policy[name] is None else str(policy[name]) for name in FIELDS}
    shown["modalities"] = ",".join(PolicySnapshot().modalities)
    shown["allow_during_sleep"] = "false"
    return shown | changes


def test_without_an_account_every_route_is_401(console_db: str) -> None:
    with client(console_db) as web:
        assert web.get(TUNING).status_code == 401
        assert web.post(f"{TUNING}/preview", data=current_form()).status_code == 401
        assert web.post(f"{TUNING}/publish", data=current_form()).status_code == 401


def test_a_role_that_may_not_tune_sees_the_form_but_cannot_preview(console_db: str) -> None:
    viewer = {"x-test-account": "viewer:v-1"}
    with client(console_db) as web:
        assert web.get(TUNING, headers=viewer).status_code == 200
        answer = web.post(f"{TUNING}/preview", data=current_form(), headers=viewer)
        assert answer.status_code == 403
        assert "may not change the policy of this patient" in answer.text
        published = web.post(f"{TUNING}/publish", data=current_form(), headers=viewer)
        assert published.status_code == 403


def test_the_form_shows_current_values_and_safe_ranges(console_db: str) -> None:
    with client(console_db) as web:
        page = web.get(TUNING, headers=CLINICIAN)
    assert page.status_code == 200
    assert 'name="cooldown_s" value="1800.0"' in page.text
    assert "<td>[600, 86400]</td>" in page.text
    assert "Enrolled by clinician:c-1" in page.text
    assert '<form method="post" action="/patients/p-0123456789ab/tuning/preview">' in page.text


def test_an_unsafe_value_is_refused_with_the_cli_s_message(console_db: str) -> None:
    with client(console_db) as web:
        page = web.post(
            f"{TUNING}/preview", data=current_form(score_threshold="0.3"), headers=CLINICIAN
        )
    assert page.status_code == 400
    assert "score_threshold=0.3 is outside the safe range [0.5, 0.99]" in html.unescape(page.text)
    assert 'name="score_threshold" value="0.3"' in page.text  # what was typed stays in the form


def test_the_preview_names_the_session_that_would_not_start(console_db: str) -> None:
    with client(console_db) as web:
        page = web.post(
            f"{TUNING}/preview", data=current_form(score_threshold="0.95"), headers=CLINICIAN
        )
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Sessions: 1 with the current policy, 0 with the proposed one." in text
    changes = text[text.index('<table id="changes">') :]
    assert "would not start" in changes and "score 0.90 below threshold 0.95" in changes
    assert "2026-03-10T14:23:20Z" in changes
    assert '<input type="hidden" name="score_threshold" value="0.95">' in page.text


class GateReadTheForm:
    """What console.auth does for a change: the form is read once, kept as ``scope["form"]``,
    and the route is handed the body as read. Here the body handed on says something else, so
    a route that parsed the body again would show it."""

    def __init__(self, app: ASGIApp, form: dict[str, str]) -> None:
        self.app, self.form = app, form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            scope["form"] = dict(self.form)
        await self.app(scope, receive, send)


def test_behind_the_gate_the_preview_takes_the_form_the_gate_read(console_db: str) -> None:
    routes = tuning_routes(console_db, never_publish, clock_ns=lambda: END)
    gated = current_form(score_threshold="0.95")
    middleware = [Middleware(GateReadTheForm, form=gated), Middleware(FakeAccount)]
    with TestClient(Starlette(routes=routes, middleware=middleware)) as web:
        page = web.post(
            f"{TUNING}/preview", data=current_form(score_threshold="0.6"), headers=CLINICIAN
        )
    assert page.status_code == 200
    assert '<input type="hidden" name="score_threshold" value="0.95">' in page.text


def test_a_patient_not_enrolled_is_refused(database: str) -> None:
    with open_database(database) as db:
        create_schema(db)
    with client(database) as web:
        form = web.get(TUNING, headers=CLINICIAN)
        assert f"vagus console enrol {PATIENT} --db" in form.text
        assert "/tuning/preview" not in form.text
        preview = web.post(
            f"{TUNING}/preview", data=current_form(score_threshold="0.8"), headers=CLINICIAN
        )
        assert preview.status_code == 409
        published = web.post(
            f"{TUNING}/publish",
            data=current_form(score_threshold="0.8", reason="test"),
            headers=CLINICIAN,
        )
        assert published.status_code == 409
        assert "is not enrolled in the console's registry" in html.unescape(published.text)


def test_a_form_that_is_not_url_encoded_is_refused(console_db: str) -> None:
    with client(console_db) as web:
        answer = web.post(f"{TUNING}/preview", json=current_form(), headers=CLINICIAN)
    assert answer.status_code == 400


@pytest.mark.broker
def test_publish_goes_through_the_audited_path_and_history_shows_who(
    console_db: str, kafka: KafkaSettings
) -> None:
    asyncio.run(create_topics(kafka))
    publish = kafka_publisher(kafka, PolicySnapshot())
    with client(console_db, publish) as web:
        page = web.post(
            f"{TUNING}/publish",
            data=current_form(score_threshold="0.8", reason="fewer false alarms"),
            headers=CLINICIAN,
        )
    assert page.status_code == 200, page.text
    assert "Policy v1 of p-0123456789ab published" in page.text
    assert "<th>score_threshold</th><td>0.7</td><td>0.8</td>" in page.text

    async def ingest() -> None:
        with open_database(console_db) as db:
            await ingest_until_caught_up(kafka, db)

    asyncio.run(ingest())
    with open_database(console_db) as db:
        (version,) = policy_log(db, PATIENT, PolicySnapshot()).accepted
    assert version.changed_by == "clinician:c-17"
    assert version.audit is not None and version.audit.new == {"score_threshold": "0.8"}
    add_people(console_db, (PATIENT,))
    with TestClient(create_app(console_db, secure_cookies=False)) as web:
        login = web.get("/login").text
        token = re.search(r'name="login_csrf" value="([^"]+)"', login)
        assert token, login
        fields = {"login_csrf": token[1], "name": "engineer", "password": PASSWORD, "next": "/"}
        assert web.post("/login", data=fields, follow_redirects=False).status_code == 303
        history = html.unescape(web.get(f"/patients/{PATIENT}/policy").text)
    accepted = history[history.index('<table id="accepted">') :]
    assert "clinician:c-17" in accepted and "fewer false alarms" in accepted
    assert "score_threshold: 0.7 → 0.8" in accepted


def test_each_form_carries_the_csrf_field_it_is_given(console_db: str) -> None:
    token = Markup('<input type="hidden" name="csrf" value="t-1">')
    routes = tuning_routes(
        console_db, never_publish, clock_ns=lambda: END, csrf_field=lambda _: token
    )
    app = Starlette(routes=routes, middleware=[Middleware(FakeAccount)])
    with TestClient(app) as web:
        form = web.get(TUNING, headers=CLINICIAN).text
        preview = web.post(
            f"{TUNING}/preview", data=current_form(score_threshold="0.8"), headers=CLINICIAN
        ).text
    assert form.count(str(token)) == 1
    assert preview.count(str(token)) == 1  # the publish form
