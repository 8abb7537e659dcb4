"""Writing an imported recording so that a failed import never leaves a file that looks whole.

The recording is written to a hidden ``.partial`` file next to the target, synced, and renamed
onto the target only when complete (rename is atomic on POSIX file systems). Any failure
removes the partial file. An existing target is never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ingest.errors import RecordingError
from ingest.importers.inline import ImportedRecord
from ingest.recording import Marker, RecordingHeader, RecordingWriter


def write_imported(path: Path, header: RecordingHeader, records: Iterable[ImportedRecord]) -> int:
    """Write ``records`` (already in time order) under ``header``; returns the record count."""
    if path.exists():
        raise RecordingError(f"{path} exists; recordings are never overwritten")
    if not path.parent.is_dir():
        raise RecordingError(f"{path.parent} is not a directory")
    partial = path.with_name(f".{path.name}.partial")
    count = 0
    end_ns = header.start_time_ns
    try:
        writer = RecordingWriter(
            partial, header, flush_interval_s=3600.0, fsync=False, overwrite=True
        )
        with writer:
            for record in records:
                if isinstance(record, Marker):
                    writer.write_marker(record.gateway_time_ns, record.label, record.detail)
                else:
                    writer.write_notification(record.to_notification())
                end_ns = max(end_ns, record.gateway_time_ns)
                count += 1
            writer.close(end_ns)
        with open(partial, "rb") as synced:
            os.fsync(synced.fileno())
        if path.exists():
            raise RecordingError(f"{path} appeared while importing; not overwritten")
        os.replace(partial, path)
    except OSError as exc:
        raise RecordingError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return count
