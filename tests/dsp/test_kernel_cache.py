"""numba's kernel cache follows the dsp sources: a change in any file starts a fresh cache.

numba checks a cached kernel against its own file only, so a kernel calling a changed kernel in
another file kept running the old machine code (found twice after merges). dsp names the cache
folder by a digest of its sources; an explicit NUMBA_CACHE_DIR still wins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cache_dir(tree: Path, env: dict[str, str]) -> str:
    """numba's cache folder after importing dsp from ``tree``, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", "import dsp, numba; print(numba.config.CACHE_DIR)"],
        capture_output=True, text=True, check=True, cwd=tree,
        env={k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        | {"PYTHONPATH": str(tree)} | env,
    )  # fmt: skip
    return done.stdout.strip()


def _copy_of_dsp(to: Path) -> Path:
    shutil.copytree(ROOT / "dsp", to / "dsp", ignore=shutil.ignore_patterns("__pycache__"))
    return to


def test_the_cache_lives_outside_the_tree_named_by_the_sources(tmp_path: Path) -> None:
    folder = Path(_cache_dir(ROOT, {"XDG_CACHE_HOME": str(tmp_path)}))
    assert folder.parent == tmp_path / "vagus" / "numba"
    assert len(folder.name) == 16
    assert _cache_dir(_copy_of_dsp(tmp_path / "same"), {"XDG_CACHE_HOME": str(tmp_path)}) == str(
        folder
    )


def test_a_change_in_a_called_kernel_starts_a_fresh_cache(tmp_path: Path) -> None:
    before = _cache_dir(_copy_of_dsp(tmp_path / "a"), {"XDG_CACHE_HOME": str(tmp_path)})
    tree = _copy_of_dsp(tmp_path / "b")
    kernels = tree / "dsp" / "ecg" / "kernels.py"
    kernels.write_text(kernels.read_text() + "\n# a changed decision rule\n")
    assert _cache_dir(tree, {"XDG_CACHE_HOME": str(tmp_path)}) != before


def test_an_explicit_numba_cache_dir_wins(tmp_path: Path) -> None:
    chosen = str(tmp_path / "chosen")
    assert _cache_dir(ROOT, {"NUMBA_CACHE_DIR": chosen}) == chosen
