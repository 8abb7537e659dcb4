"""Owner-only files and folders for health data, whatever the process umask.

Spool segments, the gateway's status, a patient's stress baseline, recordings and session audio
describe one person's body: they are created 0600 (folders 0700), and a state folder left open
by an older version is tightened when the gateway uses it again. In ``ingest`` because every
package that writes such data (ingest, stream, hardware, vagus) may import it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIR_MODE = 0o700
_FLAGS = {
    "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "xb": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "a+b": os.O_RDWR | os.O_CREAT | os.O_APPEND,
}


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` and any missing parents 0700; with ``tighten`` an existing ``path``
    loses its group and other bits (folders above an existing one are never touched)."""
    missing = []
    for folder in [path, *path.parents]:
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # created by another process meanwhile: tightened below if it is `path`
        os.chmod(folder, DIR_MODE)  # mkdir's mode passes through the umask
    if tighten and path.stat().st_mode & 0o077:
        os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path, mode: str = "wb", *, buffering: int = -1) -> IO[bytes]:
    """``open(path, mode)`` (``wb``, ``xb``, ``ab`` or ``a+b``) for a file only its owner may
    read: created 0600, and an existing file opened to write or append is made 0600 too."""
    if mode not in _FLAGS:
        raise ValueError(f"open_private writes binary files only, not mode {mode!r}")
    fd = os.open(path, _FLAGS[mode] | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` atomically with ``data`` (0600): a temporary file, then a rename, so a
    reader sees the old content or the new, never half of it."""
    temporary = path.with_name(path.name + ".tmp")
    with open_private(temporary, "wb") as handle:
        handle.write(data)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)
