"""The demo patient in a real browser: Debian's chromium, headless, driven by its own command
line (``--dump-dom`` for the page after rendering, ``--screenshot`` for the artefacts), so no
browser is downloaded and no driver package is needed.

Runs `vagus demo --console-db` once (minutes on a loaded machine), then `vagus console serve`.
Screenshots go to out/test-artefacts/console/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import open_database
from tests.console.server import ROOT, console_server

pytestmark = [pytest.mark.broker, pytest.mark.slow]
ARTEFACTS = ROOT / "out" / "test-artefacts" / "console"


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: CI tests the console's pages in it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def _browse(url: str, profile: Path, screenshot: Path | None = None) -> str:
    """The DOM of ``url`` after chromium rendered it (and a screenshot, when asked)."""
    flags = [
        _chromium(),
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # chromium refuses root otherwise
    if screenshot is not None:
        subprocess.run(
            [*flags, "--window-size=1100,1400", f"--screenshot={screenshot}", url],
            check=True,
            capture_output=True,
            timeout=120,
        )
    done = subprocess.run(
        [*flags, "--dump-dom", url], check=True, capture_output=True, timeout=120, text=True
    )
    return done.stdout


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    _chromium()  # skip before minutes of demo when there is no browser
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
    return database


@pytest.fixture(scope="module")
def served(demo_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with console_server(demo_db, log=log) as url:
        yield url


def _one(database: str, sql: str) -> tuple[object, ...]:
    with open_database(database) as db:
        rows = db.query(sql)
    assert rows, sql
    return rows[0]


def test_the_demo_patient_shows_its_session(demo_db: str, served: str, tmp_path: Path) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (patient,) = _one(demo_db, "SELECT DISTINCT patient_id FROM events")
    listing = _browse(served + "/", tmp_path / "p1", ARTEFACTS / "patients.png")
    assert f'data-patient="{patient}"' in listing
    page = _browse(f"{served}/patients/{patient}", tmp_path / "p2", ARTEFACTS / "patient.png")
    modality, status = _one(demo_db, "SELECT modality, status FROM sessions")
    assert status == "completed"
    assert f'<g class="session"><title>{modality} · {status}</title>' in page
    assert re.search(
        rf'<tr class="session"><td>[^<]+</td><td>{modality}</td><td>{status}</td>', page
    )


def test_the_why_view_names_the_hold_reason(demo_db: str, served: str, tmp_path: Path) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    event_id, reason, limit = _one(
        demo_db, "SELECT event_id, hold_reason, hold_limit FROM decisions WHERE action = 'hold'"
    )
    page = _browse(f"{served}/decisions/{event_id}", tmp_path / "p3", ARTEFACTS / "why.png")
    assert f"The loop <strong>held</strong>: {reason}" in page
    assert f"Limit: <strong>{limit}</strong>" in page
    (started_id,) = _one(demo_db, "SELECT event_id FROM decisions WHERE action = 'start_session'")
    started = _browse(f"{served}/decisions/{started_id}", tmp_path / "p4")
    assert "started a session" in started
