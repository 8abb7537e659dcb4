"""Who gets what from a running console: nothing without a session, only assigned patients for a
clinician, admin pages for admins, a CSRF token on every POST, and a lock after bad passwords."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from console import create_schema, open_database
from console.auth_sessions import MAX_FAILURES_PER_ACCOUNT
from console.store import Record, store_batch
from tests.console.conftest import ENGINES
from tests.console.events import PATIENT, encoded, story, window
from tests.console.postgres import fresh_database
from tests.console.server import PASSWORD, Client, add_people, console_server, logged_in

OTHER = "p-ba9876543210"  # a patient with data that no clinician here is assigned


@pytest.fixture(scope="module", params=ENGINES)
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("auth")
    if request.param == "sqlite":
        database = str(tmp_path / "console.db")
    else:
        server: str = request.getfixturevalue("postgres_server")
        database = fresh_database(server, f"auth_{uuid.uuid4().hex[:12]}")
    events = story()

    events += [window(i, OTHER) for i in range(3)]
    with open_database(database) as db:
        create_schema(db)
        store_batch(db, "t.all", 0, [Record(i, p) for i, p in enumerate(encoded(events))])
    add_people(database, (PATIENT,))
    with console_server(database, log=tmp_path / "serve.log") as url:
        yield url


@pytest.mark.parametrize(
    "path", ["/", f"/patients/{PATIENT}", f"/patients/{PATIENT}/timeline.csv", "/admin"]
)
def test_without_a_session_a_page_request_goes_to_login(base: str, path: str) -> None:
    status, body, headers = Client(base).request(path, accept="text/html,*/*")
    assert status == 303
    assert headers["location"].startswith("/login?next=")
    assert PATIENT not in body and "p-" not in body


@pytest.mark.parametrize(
    "path",
    ["/", f"/patients/{PATIENT}", f"/patients/{PATIENT}/timeline.csv", "/decisions/decision-0021"],
)
def test_without_a_session_anything_else_is_401_and_empty_of_data(base: str, path: str) -> None:
    status, body, _ = Client(base).request(path)
    assert status == 401
    assert PATIENT not in body and "p-" not in body
    forged = Client(base)
    forged.opener.addheaders = [("Cookie", "vagus_session=made-up-token")]
    assert forged.request(path)[0] == 401


def test_a_post_without_a_session_is_401(base: str) -> None:
    fields = {"name": "mallory", "role": "admin", "password": "x" * 20, "csrf": "x"}
    assert Client(base).request("/admin/add", fields)[0] == 401


def test_the_session_cookie_is_httponly_and_strict(base: str) -> None:
    client = Client(base)
    _, form, _ = client.request("/login")
    token = form.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
    fields = {"login_csrf": token, "name": "clinician", "password": PASSWORD, "next": "/"}
    status, _, headers = client.request("/login", fields)
    assert status == 303
    (cookie,) = [c for c in headers["set-cookie"].split("\n") if c.startswith("vagus_session=")]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback; Secure anywhere else
    assert headers["location"] == "/"


def test_a_login_without_its_form_token_is_refused(base: str) -> None:
    fields = {"name": "clinician", "password": PASSWORD}
    status, body, headers = Client(base).request("/login", fields)
    assert status == 403
    assert "vagus_session" not in headers.get("set-cookie", "")
    assert "form expired" in body


def test_after_login_only_a_path_on_this_site_is_followed(base: str) -> None:
    client = Client(base)
    _, form, _ = client.request("/login")
    token = form.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
    fields = {"login_csrf": token, "name": "clinician", "password": PASSWORD, "next": "//evil/"}
    assert client.request("/login", fields)[2]["location"] == "/"


def test_a_clinician_sees_only_assigned_patients(base: str) -> None:
    clinician = logged_in(base, "clinician")
    _, listing = clinician.get("/")
    assert f'data-patient="{PATIENT}"' in listing and OTHER not in listing
    assert clinician.get(f"/patients/{OTHER}")[0] == 404
    stranger = logged_in(base, "stranger")
    _, listing = stranger.get("/")
    assert PATIENT not in listing
    for path in (
        f"/patients/{PATIENT}",
        f"/patients/{PATIENT}/policy",
        f"/patients/{PATIENT}/timeline.csv",
        "/decisions/decision-0021",
    ):
        assert stranger.get(path)[0] == 404, path
        assert clinician.get(path)[0] == 200, path


def test_an_engineer_sees_every_patient(base: str) -> None:
    _, listing = logged_in(base, "engineer").get("/")
    assert f'data-patient="{PATIENT}"' in listing and f'data-patient="{OTHER}"' in listing


@pytest.mark.parametrize("name", ["clinician", "engineer"])
def test_admin_pages_are_403_for_others(base: str, name: str) -> None:
    client = logged_in(base, name)
    assert client.get("/admin")[0] == 403
    fields = {"csrf": client.csrf(), "name": "mallory", "role": "admin", "password": "x" * 20}
    assert client.request("/admin/add", fields)[0] == 403


def test_a_post_needs_the_session_s_csrf_token(base: str) -> None:
    client = logged_in(base, "clinician")
    assert client.request("/logout", {})[0] == 403
    assert client.request("/logout", {"csrf": "0" * 43})[0] == 403
    other = logged_in(base, "clinician")
    assert client.request("/logout", {"csrf": other.csrf()})[0] == 403
    assert client.get("/")[0] == 200  # still logged in


def test_logout_ends_the_session(base: str) -> None:
    client = logged_in(base, "clinician")
    status, _, headers = client.request("/logout", {"csrf": client.csrf()})
    assert status == 303 and headers["location"] == "/login"
    assert client.get("/")[0] == 401
    assert not [c for c in client.cookies if c.name == "vagus_session"]  # deleted there too


def test_an_admin_adds_assigns_and_disables(base: str) -> None:
    admin = logged_in(base, "admin")
    name = f"dr-{uuid.uuid4().hex[:6]}"
    csrf = admin.csrf()
    added = admin.request(
        "/admin/add", {"csrf": csrf, "name": name, "role": "clinician", "password": PASSWORD}
    )
    assert added[0] == 303
    assert admin.request("/admin/assign", {"csrf": csrf, "name": name, "patient_id": OTHER})[0] == (
        303
    )
    newcomer = logged_in(base, name)
    assert f'data-patient="{OTHER}"' in newcomer.get("/")[1]
    short = admin.request(
        "/admin/add", {"csrf": csrf, "name": "x", "role": "admin", "password": "s"}
    )
    assert short[0] == 400 and "at least 12 characters" in short[1]
    assert admin.request("/admin/disable", {"csrf": csrf, "name": name})[0] == 303
    assert newcomer.get("/")[0] == 401  # its session ended with the account
    assert Client(base).login(name)[0] == 401
    _, page = admin.get("/admin")
    audit = page[page.index('id="audit"') :]
    assert f"<td>admin</td><td>disable</td><td>{name}</td>" in audit
    assert f"<td>admin</td><td>assign {OTHER}</td><td>{name}</td>" in audit
    refused = admin.request("/admin/disable", {"csrf": csrf, "name": "admin"})
    assert refused[0] == 400 and "their own account" in refused[1]


def test_bad_passwords_lock_the_account(base: str) -> None:
    admin = logged_in(base, "admin")
    name = f"lock-{uuid.uuid4().hex[:6]}"
    fields = {"csrf": admin.csrf(), "name": name, "role": "engineer", "password": PASSWORD}
    assert admin.request("/admin/add", fields)[0] == 303
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        status, body = Client(base).login(name, "wrong password, wrong")
        assert status == 401 and "Wrong name or password" in body
    status, body = Client(base).login(name)  # the right password, too late
    assert status == 429
    assert "logins are locked for 15 more minute(s)" in body
    assert logged_in(base, "engineer").get("/")[0] == 200  # other accounts still log in


def test_tuning_follows_the_roles_and_the_csrf_token(base: str) -> None:
    """The tuning pages sit behind the same gate: a clinician tunes assigned patients only,
    an engineer or an admin looks but does not change, every POST carries the session's token."""
    tuning = f"/patients/{PATIENT}/tuning"
    assert Client(base).get(tuning)[0] == 401
    clinician = logged_in(base, "clinician")
    status, form = clinician.get(tuning)
    assert status == 200 and 'name="csrf"' in form and 'id="not-enrolled"' in form
    fields = {"csrf": clinician.csrf(tuning), "score_threshold": "0.8"}
    assert clinician.request(f"{tuning}/preview", {"score_threshold": "0.8"})[0] == 403  # token
    assert clinician.request(f"{tuning}/preview", fields)[0] == 409  # reached: not enrolled
    assert logged_in(base, "stranger").get(tuning)[0] == 404
    for name in ("engineer", "admin"):
        client = logged_in(base, name)
        assert client.get(tuning)[0] == 200
        fields = {"csrf": client.csrf(tuning), "score_threshold": "0.8"}
        assert client.request(f"{tuning}/preview", fields)[0] == 403, name
