"""The ``[spool]`` configuration section: bounds and fsync policy of the gateway's disk spool."""

from __future__ import annotations

from typing import Literal

import msgspec

FsyncPolicy = Literal["always", "interval", "never"]


class SpoolSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[spool]`` in the configuration. ``directory`` None: ``spool/`` in the gateway's state
    directory (see vagus.state_paths)."""

    directory: str | None = None
    max_bytes: int = 256 * 1024 * 1024
    max_events: int = 1_000_000
    segment_bytes: int = 4 * 1024 * 1024
    fsync: FsyncPolicy = "interval"
    fsync_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_bytes < 4096 or self.max_events < 1:
            raise ValueError("spool max_bytes must be at least 4096 and max_events at least 1")
        if not 512 <= self.segment_bytes <= self.max_bytes:
            raise ValueError("spool segment_bytes must be within [512, max_bytes]")
        if self.fsync_interval_s < 0:
            raise ValueError("spool fsync_interval_s must not be negative")
