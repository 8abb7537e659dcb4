"""`vagus console serve` as a user starts it, in a subprocess, on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path

from console import create_schema, open_database
from console.accounts import add_account, assign

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def console_server(database: str, *, log: Path, config: Path | None = None) -> Iterator[str]:
    """Serve ``database`` on a free port; yield the base URL; stop it with SIGTERM."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    options = ["--config", str(config)] if config is not None else []
    command = [
        sys.executable,
        "-m",
        "vagus",
        *options,
        "console",
        "serve",
        "--db",
        database,
        "--port",
        "0",
    ]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=stderr)
    try:
        url = _announced_url(process, log)
        _wait_answering(url, process, log)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("console serve did not stop within 20 s of SIGTERM") from None


def _announced_url(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"vagus console: (http://\S+/)", log.read_text())
        if found:
            return found[1].rstrip("/")
        if process.poll() is not None:
            raise AssertionError(f"console serve exited: {log.read_text()}")
        time.sleep(0.1)
    raise AssertionError("console serve did not announce its address")


def _wait_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/login", timeout=5):  # noqa: S310 - loopback
                return
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                raise AssertionError(f"console serve exited: {log.read_text()}") from None
            time.sleep(0.1)
    raise AssertionError("console serve did not answer")


def get(url: str) -> tuple[int, str]:
    """Status and body of a GET (an error status is returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


#: The password every test account gets (long enough for the console's rule).
PASSWORD = "correct horse battery"


def add_people(database: str, patients: tuple[str, ...] = ()) -> None:
    """Accounts ``admin``, ``engineer`` and ``clinician`` (assigned ``patients``), and
    ``stranger`` (a clinician with none)."""
    with open_database(database) as db:
        create_schema(db)
        for name, role in (
            ("admin", "admin"),
            ("engineer", "engineer"),
            ("clinician", "clinician"),
            ("stranger", "clinician"),
        ):
            add_account(db, name, role, PASSWORD, actor="test", now_ns=time.time_ns())
        for patient in patients:
            assign(db, "clinician", patient, True, actor="test", now_ns=time.time_ns())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Client:
    """A logged-in HTTP client (cookies kept; redirects returned, not followed)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(
        self, path: str, fields: dict[str, str] | None = None, accept: str = ""
    ) -> tuple[int, str, dict[str, str]]:
        data = None if fields is None else urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.base + path, data=data)  # noqa: S310 - loopback
        if accept:
            request.add_header("Accept", accept)
        try:
            with self.opener.open(request, timeout=30) as answer:
                return int(answer.status), answer.read().decode(), _lower(answer.headers.items())
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode(), _lower(error.headers.items())

    def get(self, path: str) -> tuple[int, str]:
        status, body, _ = self.request(path)
        return status, body

    def csrf(self, path: str = "/") -> str:
        """The session's CSRF token, from the logout form of a page."""
        _, body = self.get(path)
        return re.search(r'name="csrf" value="([^"]+)"', body)[1]  # type: ignore[index]

    def login(self, name: str, password: str = PASSWORD) -> tuple[int, str]:
        _, form, _ = self.request("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', form)
        assert token, form
        fields = {"login_csrf": token[1], "name": name, "password": password, "next": "/"}
        status, body, _ = self.request("/login", fields)
        return status, body


def logged_in(base: str, name: str) -> Client:
    client = Client(base)
    status, body = client.login(name)
    assert status == 303, body
    return client


def _lower(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names in lower case; a repeated header's values joined by newlines."""
    found: dict[str, str] = {}
    for key, value in headers:
        name = key.lower()
        found[name] = f"{found[name]}\n{value}" if name in found else value
    return found
