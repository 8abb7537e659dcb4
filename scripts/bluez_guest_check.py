"""`make bluez-check`: the BLE tests marked ``bluez`` through real BlueZ in a QEMU guest.

Boots the guest (scripts/bluez_guest.sh), runs pytest there on the tests' BlueZ half
(``-m bluez_guest``), and prints, as its last stdout line, one JSON object counted from the
guest's JUnit report. Exits non-zero when a test failed, errored or nothing ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
GUEST = PROJECT / "scripts" / "bluez_guest.sh"
JUNIT = "junit.xml"


def counts(junit: Path) -> dict[str, int]:
    """passed / failed / skipped from a pytest JUnit report (errors count as failed)."""
    suite = ET.parse(junit).getroot()  # noqa: S314 (written by our own pytest run)
    if suite.tag == "testsuites":
        suite = suite[0]
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}


def cache_dir() -> Path:
    """Where bluez_guest.sh keeps the kernel and the initramfs (same rule as the script)."""
    if explicit := os.environ.get("VAGUS_BLUEZ_GUEST_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vagus" / "bluez-guest"


def main(argv: list[str]) -> int:
    python = os.environ.get("VAGUS_PYTHON", sys.executable)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vagus-bluez-") as out_dir:
        out = Path(out_dir)
        # The host's / is read-only in the guest: no cache, no hypothesis database.
        pytest = [
            python, "-m", "pytest", "tests/ble", "-m", "bluez_guest", "-v",
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
            "-o", "addopts=-ra --strict-markers", f"--junitxml=/tmp/out/{JUNIT}", *argv,
        ]  # fmt: skip
        command = ["env", f"PYTHONPATH={PROJECT}", "PYTHONDONTWRITEBYTECODE=1", *pytest]
        env = {**os.environ, "VAGUS_BLUEZ_OUT": str(out)}
        guest = subprocess.run(  # noqa: S603 (our own script, our own arguments)
            [str(GUEST), "run", "--", *command], check=False, cwd=PROJECT, env=env
        )
        duration_s = time.monotonic() - started
        result: dict[str, object] = {"passed": 0, "failed": 0, "skipped": 0}
        if (out / JUNIT).is_file():
            result.update(counts(out / JUNIT))
        boot = out / "boot_s"
        kernel_file = cache_dir() / "release"
        result.update(
            boot_s=float(boot.read_text()) if boot.is_file() else None,
            duration_s=round(duration_s, 1),
            kernel=kernel_file.read_text().strip() if kernel_file.is_file() else None,
            guest_exit=guest.returncode,
        )
    print(json.dumps(result))
    ok = result["failed"] == 0 and result["passed"] != 0 and guest.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
