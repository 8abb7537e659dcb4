"""The admin's enrolment page through Starlette's TestClient, behind the real gate, on both
engines: admins only, the CSRF token, the registry's own check of pseudonyms, the signed-in
account (not free text) as actor, and every change in the audit."""

from __future__ import annotations

import pytest

from console import open_database
from console.accounts import audit_log, set_disabled
from console.registry import RegistryError, enrol_as, enrolled, enrolment
from tests.console.events import PATIENT
from tests.console.server import add_people
from tests.console.test_password_change import browser, csrf, signed_in

PAGE = "/admin/patients"


@pytest.fixture
def people(database: str) -> str:
    """Accounts admin, engineer, clinician, stranger."""
    add_people(database)
    return database


def registry_audit(database: str) -> list[tuple[str, str, str]]:
    with open_database(database) as db:
        return [(actor, action, subject) for _, actor, action, subject in audit_log(db)]


@pytest.mark.parametrize("name", ["clinician", "engineer"])
def test_the_page_is_403_for_everyone_but_an_admin(people: str, name: str) -> None:
    web = signed_in(people, name)
    assert f'href="{PAGE}"' not in web.get("/").text
    assert web.get(PAGE).status_code == 403
    token = csrf(web)
    for action in ("enrol", "unenrol"):
        answer = web.post(f"{PAGE}/{action}", data={"csrf": token, "patient_id": PATIENT})
        assert answer.status_code == 403
    with open_database(people) as db:
        assert enrolled(db) == []
    assert browser(people).get(PAGE).status_code == 401


def test_an_admin_enrols_then_unenrols_and_both_are_audited(people: str) -> None:
    admin = signed_in(people, "admin")
    assert f'href="{PAGE}"' in admin.get("/").text
    token = csrf(admin, PAGE)
    answer = admin.post(f"{PAGE}/enrol", data={"csrf": token, "patient_id": PATIENT})
    assert answer.status_code == 303 and answer.headers["location"] == PAGE
    listing = admin.get(PAGE).text
    row = listing[listing.index(f'data-patient="{PATIENT}"') :].split("</tr>", 1)[0]
    assert "<td>admin</td>" in row
    audit = listing[listing.index('id="audit"') :]
    assert f"<td>admin</td><td>enrol</td><td>{PATIENT}</td>" in audit
    with open_database(people) as db:
        found = enrolment(db, PATIENT)
        assert found is not None and found.enrolled_by == "admin"
    answer = admin.post(f"{PAGE}/unenrol", data={"csrf": token, "patient_id": PATIENT})
    assert answer.status_code == 303
    listing = admin.get(PAGE).text
    assert f'data-patient="{PATIENT}"' not in listing
    assert f"<td>admin</td><td>unenrol</td><td>{PATIENT}</td>" in listing
    assert registry_audit(people)[:2] == [
        ("admin", "unenrol", PATIENT),
        ("admin", "enrol", PATIENT),
    ]
    with open_database(people) as db:
        assert enrolment(db, PATIENT) is None
    accounts_page = admin.get("/admin").text  # the account changes' log shows them too
    assert f"<td>admin</td><td>enrol</td><td>{PATIENT}</td>" in accounts_page


def test_a_repeat_changes_nothing_and_says_so(people: str) -> None:
    admin = signed_in(people, "admin")
    token = csrf(admin, PAGE)
    assert (
        admin.post(f"{PAGE}/enrol", data={"csrf": token, "patient_id": PATIENT}).status_code == 303
    )
    again = admin.post(f"{PAGE}/enrol", data={"csrf": token, "patient_id": PATIENT})
    assert again.status_code == 200 and "already enrolled by admin" in again.text
    gone = admin.post(f"{PAGE}/unenrol", data={"csrf": token, "patient_id": "p-abcdefghjkmn"})
    assert gone.status_code == 200 and "was not enrolled; nothing changed" in gone.text
    assert [e for e in registry_audit(people) if e[1] in ("enrol", "unenrol")] == [
        ("admin", "enrol", PATIENT)
    ]


@pytest.mark.parametrize("patient", ["p-BAD", "p-0123456789ai", "", "p-0123456789ab; drop"])
def test_an_invalid_pseudonym_is_refused_with_the_registry_s_message(
    people: str, patient: str
) -> None:
    admin = signed_in(people, "admin")
    token = csrf(admin, PAGE)
    for action in ("enrol", "unenrol"):
        answer = admin.post(f"{PAGE}/{action}", data={"csrf": token, "patient_id": patient})
        assert answer.status_code == 400
        assert "is not a pseudonym: p- and 12 characters of 0-9 a-z" in answer.text
        assert 'id="message"' in answer.text
    with open_database(people) as db:
        assert enrolled(db) == []
    assert not [e for e in registry_audit(people) if e[1] in ("enrol", "unenrol")]


@pytest.mark.parametrize("token", [None, "0" * 43])
def test_a_change_without_the_session_s_csrf_token_is_refused(
    people: str, token: str | None
) -> None:
    admin = signed_in(people, "admin")
    fields = {"patient_id": PATIENT} | ({} if token is None else {"csrf": token})
    answer = admin.post(f"{PAGE}/enrol", data=fields)
    assert answer.status_code == 403 and "CSRF" in answer.text
    with open_database(people) as db:
        assert enrolled(db) == []


def test_the_page_s_actor_must_be_an_enabled_account(people: str) -> None:
    with open_database(people) as db:
        with pytest.raises(RegistryError, match="not an enabled console account"):
            enrol_as(db, PATIENT, "nobody-here", 1)
        set_disabled(db, "engineer", True, actor="admin", now_ns=1)
        with pytest.raises(RegistryError, match="not an enabled console account"):
            enrol_as(db, PATIENT, "engineer", 2)
        assert enrolled(db) == []
        found, added = enrol_as(db, PATIENT, "clinician", 3)
        assert added and found.enrolled_by == "clinician"
