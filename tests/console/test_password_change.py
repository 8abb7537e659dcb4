"""Self-service password change through Starlette's TestClient, behind the real gate, on both
engines: the current password (throttled like a login), the new one twice and by the creation
rule, the CSRF token, other sessions ended, the old password dead, an audit entry without it."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from console import open_database
from console.accounts import audit_log, verify_password
from console.auth import SESSION_COOKIE
from console.auth_sessions import MAX_FAILURES_PER_ACCOUNT
from console.web import create_app
from tests.console.server import PASSWORD, add_people

NEW = "a longer new passphrase"
PAGE = "/account/password"


@pytest.fixture
def people(database: str) -> str:
    """Accounts admin, engineer, clinician, stranger (all with ``PASSWORD``)."""
    add_people(database)
    return database


def browser(database: str) -> TestClient:
    """One browser (its own cookies) on a console over ``database``, plain http."""
    return TestClient(create_app(database, secure_cookies=False), follow_redirects=False)


def log_in(web: TestClient, name: str, password: str = PASSWORD) -> int:
    form = web.get("/login").text
    token = re.search(r'name="login_csrf" value="([^"]+)"', form)
    assert token, form
    fields = {"login_csrf": token[1], "name": name, "password": password, "next": "/"}
    return web.post("/login", data=fields).status_code


def signed_in(database: str, name: str) -> TestClient:
    web = browser(database)
    assert log_in(web, name) == 303
    return web


def csrf(web: TestClient, path: str = "/") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', web.get(path).text)
    assert found
    return found[1]


def change(
    web: TestClient, current: str = PASSWORD, new: str = NEW, again: str = NEW
) -> tuple[int, str]:
    """Status and body of the POST (its redirect's target for a 303)."""
    fields = {"csrf": csrf(web, PAGE), "current_password": current, "new_password": new}
    answer = web.post(PAGE, data=fields | {"new_password_again": again})
    return answer.status_code, answer.headers.get("location", answer.text)


def password_is(database: str, name: str, password: str) -> bool:
    with open_database(database) as db:
        return verify_password(db, name, password) is not None


def test_the_header_links_to_the_page_for_a_signed_in_account(people: str) -> None:
    web = signed_in(people, "clinician")
    assert f'href="{PAGE}"' in web.get("/").text
    page = web.get(PAGE)
    assert page.status_code == 200 and 'id="change-password"' in page.text
    assert 'id="changed"' not in page.text
    assert browser(people).get(PAGE).status_code == 401  # no session, no page


def test_a_change_replaces_the_hash_and_keeps_this_browser_signed_in(people: str) -> None:
    web = signed_in(people, "clinician")
    old_token = web.cookies[SESSION_COOKIE]
    status, target = change(web)
    assert status == 303 and target == f"{PAGE}?changed=1"
    assert web.cookies[SESSION_COOKIE] != old_token  # re-issued, not kept
    done = web.get(target)
    assert done.status_code == 200 and 'id="changed"' in done.text
    assert web.get("/").status_code == 200
    with open_database(people) as db:
        (stored,) = db.query("SELECT password_hash FROM accounts WHERE name = 'clinician'")
        assert str(stored[0]).startswith("$argon2id$")
        assert verify_password(db, "clinician", NEW) is not None
        entries = audit_log(db)
        everything = repr(db.query("SELECT * FROM account_audit"))
    assert entries[0][1:] == ("clinician", "change password", "clinician")
    assert PASSWORD not in everything and NEW not in everything
    assert str(stored[0]) not in everything


def test_other_sessions_end_and_the_old_cookie_is_worth_nothing(people: str) -> None:
    web, elsewhere = signed_in(people, "clinician"), signed_in(people, "clinician")
    colleague = signed_in(people, "stranger")
    old_token = web.cookies[SESSION_COOKIE]
    assert change(web)[0] == 303
    assert elsewhere.get("/").status_code == 401
    replayed = browser(people)
    replayed.cookies.set(SESSION_COOKIE, old_token)
    assert replayed.get("/").status_code == 401
    assert web.get("/").status_code == 200
    assert colleague.get("/").status_code == 200  # another account's sessions are untouched


def test_the_old_password_no_longer_logs_in(people: str) -> None:
    assert change(signed_in(people, "clinician"))[0] == 303
    assert log_in(browser(people), "clinician", PASSWORD) == 401
    assert log_in(browser(people), "clinician", NEW) == 303


def test_a_wrong_current_password_is_refused_then_throttled(people: str) -> None:
    web = signed_in(people, "engineer")
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        status, text = change(web, current="not the password at all")
        assert status == 403 and "current password is wrong" in text
    status, text = change(web)  # the right one, too late
    assert status == 429 and "try again in 15 minute(s)" in text
    assert password_is(people, "engineer", PASSWORD)
    assert log_in(browser(people), "engineer") == 429  # the same lock as a login's
    assert web.get("/").status_code == 200  # the session itself goes on


def test_new_passwords_that_differ_are_refused(people: str) -> None:
    status, text = change(signed_in(people, "clinician"), again=NEW + "!")
    assert status == 400 and "two new passwords differ" in text
    assert password_is(people, "clinician", PASSWORD) and not password_is(people, "clinician", NEW)


def test_a_weak_new_password_is_refused_by_the_creation_rule(people: str) -> None:
    status, text = change(signed_in(people, "clinician"), new="short", again="short")
    assert status == 400 and "at least 12 characters" in text
    assert password_is(people, "clinician", PASSWORD)


@pytest.mark.parametrize("token", [None, "", "0" * 43])
def test_a_change_without_the_session_s_csrf_token_is_refused(
    people: str, token: str | None
) -> None:
    web = signed_in(people, "clinician")
    fields = {"current_password": PASSWORD, "new_password": NEW, "new_password_again": NEW}
    answer = web.post(PAGE, data=fields if token is None else fields | {"csrf": token})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert password_is(people, "clinician", PASSWORD)
    with open_database(people) as db:
        assert not [e for e in audit_log(db) if e[2] == "change password"]
