"""A real browser for the console's tests: Debian's chromium driven by Selenium through Debian's
chromedriver (packages ``chromium`` and ``chromium-driver``; ``make browser`` installs them).

The driver's path is given, so Selenium Manager is skipped, and ``SE_OFFLINE`` forbids it any
download should it run anyway: no browser or driver is ever fetched. Screenshots are written to
``out/test-artefacts/console/`` (``out/`` is ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.console.server import PASSWORD, ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTEFACTS = ROOT / "out" / "test-artefacts" / "console"

if TYPE_CHECKING:  # selenium itself is imported only when a browser is present
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement


def browser_missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing (apt-get install {package}, or make browser)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the 'dev' extra)"
    return None


def need_browser() -> None:
    """Skip (fail in CI) when there is no browser to drive."""
    missing = browser_missing()
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"{missing}: CI tests the console's pages in chromium", pytrace=False)
    if missing:
        pytest.skip(missing)


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """A headless chromium with its own profile, quit at the end."""
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1100,1400",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium refuses root otherwise
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.set_page_load_timeout(60)
        yield driver
    except BaseException:
        _keep_failure(driver, profile.parent.name)
        raise
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _keep_failure(driver: WebDriver, name: str) -> None:
    """The page a failing test ended on, as a screenshot and its DOM, beside the others."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    try:
        driver.save_screenshot(str(ARTEFACTS / f"failed-{name}.png"))
        (ARTEFACTS / f"failed-{name}.html").write_text(driver.page_source)
    except Exception:  # noqa: BLE001 - the test's own error is the one to report
        return


def log_in(driver: WebDriver, base: str, name: str, password: str = PASSWORD) -> None:
    """Fill and submit the login form as a person would."""
    from selenium.webdriver.common.by import By

    if "/login" not in driver.current_url:
        driver.get(base + "/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    submit_and_wait(driver, driver.find_element(By.ID, "submit"))


def submit_and_wait(driver: WebDriver, button: WebElement) -> None:
    """Click ``button`` and wait until the page it leads to has replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    button.click()
    wait = WebDriverWait(driver, 30)
    wait.until(lambda _: _replaced(old))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def _replaced(old: WebElement) -> bool:
    """Whether ``old`` is no longer in the page. Chromium reports it either as a stale element
    or, when asked while the new document is being attached, as an inspector error saying the
    node does not belong to the document (seen once in CI on chromium 156): both mean replaced."""
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        WebDriverException,
    )

    try:
        old.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    return path
