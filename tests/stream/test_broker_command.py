"""`vagus broker` says when its broker is not running, instead of "listening" on someone else's
port or after its broker died."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_vagus

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]


# embedded only: --port is the embedded broker's (with --kafka the nodes take free ports)
def test_a_busy_port_is_refused_not_reported_as_listening() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_vagus("broker", "--port", str(port), timeout_s=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "listening" not in result.stdout
    assert f"port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_fails_when_its_broker_dies(broker_args: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "vagus", "broker", *broker_args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "listening" in process.stdout.readline()
        children = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert children, "no broker process under vagus broker"
        os.kill(int(children[0]), signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 1
        name = "Apache Kafka" if broker_args else "the embedded broker"
        assert name in stderr and "exited (status -9)" in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
