"""Pure numeric code, in subpackages by concept: filters (the base), ecg, hrv, eda, activity,
sleep and stress. Each subpackage's __init__ lists its public surface; docs/architecture.md
gives the direction their imports may take (tests/test_architecture.py holds it)."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path

import numba

__all__: list[str] = []


def _kernel_cache_folder() -> Path | None:
    """Where numba keeps compiled kernels: a folder per version of the dsp sources.

    numba checks a cached kernel against its own file only; a kernel that calls a changed
    kernel in another file would keep running the old machine code. Naming the folder by a
    digest of every dsp source (with numba's, Python's and the machine's versions) makes any
    change start a fresh cache. It lives outside the source tree, which a service user cannot
    write when vagus is installed system-wide.
    """
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    for part in (numba.__version__, sys.version, platform.machine()):
        digest.update(part.encode())
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home (a system user): numba's own place next to the sources
            return None
    return Path(base) / "vagus" / "numba" / digest.hexdigest()[:16]


if not os.environ.get("NUMBA_CACHE_DIR"):  # an explicit choice (tests, services) wins
    _folder = _kernel_cache_folder()
    if _folder is not None:
        numba.config.CACHE_DIR = str(_folder)  # type: ignore[attr-defined]
