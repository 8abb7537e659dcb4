"""A clinician tunes a threshold in a real browser: the form, its preview, the audited publish
through the broker, and the new version in the history under the clinician's account.

The console serves a database holding one patient's story (tests/console/events.py) and ingests
the topics of a broker (both brokers, as every broker test). Screenshots go to
out/test-artefacts/console/ (tuning-form, tuning-preview, tuning-history).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from console import create_schema, open_database
from console.registry import enrol
from console.store import Record, store_batch
from stream.settings import KafkaSettings
from stream.topics import create_topic_set
from tests.console.browser import chromium, log_in, need_browser, screenshot, submit_and_wait
from tests.console.events import PATIENT, T0, encoded, story
from tests.console.server import add_people, console_server

pytestmark = [pytest.mark.slow, pytest.mark.broker]


def _by(kind: str) -> str:
    from selenium.webdriver.common.by import By

    return str(getattr(By, kind))


async def test_a_clinician_changes_a_threshold_previews_it_and_finds_it_in_the_history(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    need_browser()
    await create_topic_set(kafka)
    config = tmp_path / "vagus.toml"
    config.write_text(
        f'[kafka]\nbootstrap = "{kafka.bootstrap}"\ntopic_prefix = "{kafka.topic_prefix}"\n'
    )
    database = str(tmp_path / "console.db")
    with open_database(database) as db:
        create_schema(db)
        store_batch(db, "t.all", 0, [Record(i, p) for i, p in enumerate(encoded(story()))])
        enrol(db, PATIENT, "admin", T0)
    add_people(database, (PATIENT,))
    with (
        console_server(database, log=tmp_path / "serve.log", config=config) as base,
        chromium(tmp_path / "profile") as driver,
    ):
        log_in(driver, base, "clinician")
        driver.get(f"{base}/patients/{PATIENT}/policy")
        submit_and_wait(driver, driver.find_element(_by("ID"), "tune"))
        threshold = driver.find_element(_by("ID"), "f-score_threshold")
        before = threshold.get_attribute("value")
        threshold.clear()
        threshold.send_keys("0.95")
        screenshot(driver, "tuning-form")
        submit_and_wait(driver, driver.find_element(_by("CSS_SELECTOR"), "#policy-form ~ p button"))
        changed = driver.find_element(_by("ID"), "changed").text
        assert "score_threshold" in changed and "0.95" in changed, changed
        assert driver.find_element(_by("ID"), "totals").text.startswith("Sessions:")
        changes = [row.text for row in driver.find_elements(_by("CSS_SELECTOR"), "#changes tr")]
        assert any("would not start" in row for row in changes), changes  # the story's session
        screenshot(driver, "tuning-preview")
        driver.find_element(_by("ID"), "reason").send_keys("fewer false alarms")
        submit_and_wait(
            driver, driver.find_element(_by("CSS_SELECTOR"), "form[action$='/publish'] button")
        )
        body = driver.find_element(_by("TAG_NAME"), "body").text
        assert "Published by clinician:clinician" in body, body
        deadline = time.monotonic() + 60
        while True:  # the console shows the version once it has ingested it from the topic
            driver.get(f"{base}/patients/{PATIENT}/policy")
            history = driver.find_element(_by("TAG_NAME"), "body").text
            if "clinician:clinician" in history:
                break
            assert time.monotonic() < deadline, history
            await asyncio.sleep(0.5)
        assert f"score_threshold: {before} → 0.95" in history, history
        assert "fewer false alarms" in history
        screenshot(driver, "tuning-history")
