"""The console in a real browser (tests/console/browser.py): logging in, a patient's timeline with
its session, the "why" view, what a clinician may not reach, logout, and the login lock.

The first tests serve the events of tests/console/events.py (a replay of one patient's
story); the last ones run `vagus demo --console-db` once (minutes on a loaded machine) and look
at the demo patient. Screenshots go to out/test-artefacts/console/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import create_schema, open_database
from console.auth_sessions import MAX_FAILURES_PER_ACCOUNT
from console.store import Record, store_batch
from tests.console.browser import chromium, log_in, need_browser, screenshot, submit_and_wait
from tests.console.events import PATIENT, encoded, story
from tests.console.server import ROOT, add_people, console_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_browser()
    folder = tmp_path_factory.mktemp("browser")
    database = str(folder / "console.db")
    with open_database(database) as db:
        create_schema(db)
        store_batch(db, "t.all", 0, [Record(i, p) for i, p in enumerate(encoded(story()))])
    add_people(database, (PATIENT,))
    with console_server(database, log=folder / "serve.log") as url:
        yield url


def _by(kind: str) -> str:
    from selenium.webdriver.common.by import By

    return str(getattr(By, kind))


def test_a_clinician_logs_in_and_follows_a_session_to_its_why(base: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as driver:
        driver.get(f"{base}/patients/{PATIENT}")
        assert driver.current_url.startswith(f"{base}/login?next=")  # nothing before login
        assert "<svg" not in driver.page_source and "data-patient" not in driver.page_source
        screenshot(driver, "login")
        log_in(driver, base, "clinician")
        assert driver.current_url == f"{base}/patients/{PATIENT}"  # back where it was asked
        assert driver.find_element(_by("ID"), "who").text == "clinician (clinician)"
        session = driver.find_element(_by("CSS_SELECTOR"), "svg g.session title")
        assert session.get_attribute("textContent") == "paced_breathing · completed"
        row = driver.find_element(_by("CSS_SELECTOR"), "#sessions tr.session")
        assert "paced_breathing" in row.text and "completed" in row.text
        screenshot(driver, "patient")
        driver.find_element(_by("CSS_SELECTOR"), '#decisions a[href="/decisions/decision-0021"]')
        driver.get(f"{base}/decisions/decision-0021")
        body = driver.find_element(_by("TAG_NAME"), "body").text
        assert "The loop held: cooldown of 1800 s since the last session" in body
        screenshot(driver, "why")
        submit_and_wait(driver, driver.find_element(_by("LINK_TEXT"), "Patients"))
        assert driver.find_element(_by("CSS_SELECTOR"), f'tr[data-patient="{PATIENT}"]')


def test_a_clinician_cannot_reach_the_admin_pages(base: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as driver:
        log_in(driver, base, "clinician")
        assert not driver.find_elements(_by("LINK_TEXT"), "Accounts")
        driver.get(base + "/admin")
        assert "this page is for: admin" in driver.find_element(_by("TAG_NAME"), "body").text
        assert not driver.find_elements(_by("ID"), "accounts")
        screenshot(driver, "admin-forbidden")


def test_an_admin_assigns_a_patient_in_the_browser(base: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as driver:
        log_in(driver, base, "admin")
        submit_and_wait(driver, driver.find_element(_by("LINK_TEXT"), "Accounts"))
        form = driver.find_element(_by("ID"), "assign")
        from selenium.webdriver.support.ui import Select

        Select(form.find_element(_by("NAME"), "name")).select_by_visible_text("stranger")
        form.find_element(_by("NAME"), "patient_id").send_keys(PATIENT)
        submit_and_wait(driver, form.find_element(_by("CSS_SELECTOR"), "button:not([formaction])"))
        row = driver.find_element(_by("CSS_SELECTOR"), 'tr[data-account="stranger"]')
        assert PATIENT in row.text
        audit = driver.find_element(_by("ID"), "audit").text
        assert f"admin assign {PATIENT} stranger" in audit
        screenshot(driver, "admin")
        form = driver.find_element(_by("ID"), "assign")
        Select(form.find_element(_by("NAME"), "name")).select_by_visible_text("stranger")
        form.find_element(_by("NAME"), "patient_id").send_keys(PATIENT)
        submit_and_wait(driver, form.find_element(_by("CSS_SELECTOR"), "button[formaction]"))
        row = driver.find_element(_by("CSS_SELECTOR"), 'tr[data-account="stranger"]')
        assert PATIENT not in row.text


def test_logout_ends_the_session(base: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as driver:
        log_in(driver, base, "engineer")
        assert driver.find_element(_by("CSS_SELECTOR"), f'tr[data-patient="{PATIENT}"]')
        cookie = driver.get_cookie("vagus_session")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        submit_and_wait(driver, driver.find_element(_by("CSS_SELECTOR"), "#logout button"))
        assert driver.current_url == f"{base}/login"
        assert driver.get_cookie("vagus_session") is None
        driver.add_cookie(dict(cookie))  # the old token, replayed, is worth nothing now
        driver.get(base + "/")
        assert driver.current_url.startswith(f"{base}/login")
        assert PATIENT not in driver.page_source


def test_bad_passwords_lock_logins(base: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as driver:
        for _ in range(MAX_FAILURES_PER_ACCOUNT):
            log_in(driver, base, "stranger", "not the password at all")
            message = driver.find_element(_by("ID"), "message").text
            assert message == "Wrong name or password, or the account is disabled."
        log_in(driver, base, "stranger")  # the right one, after the lock
        message = driver.find_element(_by("ID"), "message").text
        assert "logins are locked for 15 more minute(s)" in message
        assert driver.get_cookie("vagus_session") is None
        screenshot(driver, "locked")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    need_browser()  # skip before minutes of demo when there is no browser
    folder = tmp_path_factory.mktemp("demo")
    database = str(folder / "console.db")
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vagus",
            "demo",
            "--speed",
            "max",
            "--console-db",
            database,
            "--output-dir",
            str(folder / "out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"events stored in {database}" in done.stdout
    add_people(database)
    return database


def _one(database: str, sql: str) -> tuple[object, ...]:
    with open_database(database) as db:
        rows = db.query(sql)
    assert rows, sql
    return rows[0]


@pytest.mark.broker
def test_the_demo_patient_shows_its_session_and_why(demo_db: str, tmp_path: Path) -> None:
    (patient,) = _one(demo_db, "SELECT DISTINCT patient_id FROM events")
    modality, status = _one(demo_db, "SELECT modality, status FROM sessions")
    assert status == "completed"
    event_id, reason, limit = _one(
        demo_db, "SELECT event_id, hold_reason, hold_limit FROM decisions WHERE action = 'hold'"
    )
    with (
        console_server(demo_db, log=tmp_path / "serve.log") as base,
        chromium(tmp_path / "profile") as driver,
    ):
        log_in(driver, base, "engineer")
        submit_and_wait(
            driver, driver.find_element(_by("CSS_SELECTOR"), f'tr[data-patient="{patient}"] a')
        )
        titles = driver.find_elements(_by("CSS_SELECTOR"), "svg g.session title")
        assert f"{modality} · {status}" in [t.get_attribute("textContent") for t in titles]
        about = driver.find_element(_by("CSS_SELECTOR"), "#stress-model").text
        # the demo's default scorer, with the accuracy its bundled sidecar states
        assert "stress-logistic-no-heart/2" in about and "95 % interval over subjects" in about
        screenshot(driver, "demo-patient")
        driver.get(f"{base}/decisions/{event_id}")
        body = driver.find_element(_by("TAG_NAME"), "body").text
        assert f"The loop held: {reason}" in body
        assert f"Limit: {limit}" in body
        screenshot(driver, "demo-why")
