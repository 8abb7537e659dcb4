"""`vagus console serve` as a user starts it, in a subprocess, on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
            with urllib.request.urlopen(url + "/", timeout=5):  # noqa: S310 - loopback
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
