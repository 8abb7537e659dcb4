"""The ``[spool]`` configuration section: bounds and fsync policy of the gateway's disk spool."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

FsyncPolicy = Literal["always", "interval", "never"]

#: 1 TiB: more than any gateway's disk; a larger figure is a typing error, not a plan.
_MAX_BYTES = 1 << 40


class SpoolSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[spool]`` in the configuration. ``directory`` None: ``spool/`` in the gateway's state
    directory (see vagus.state_paths)."""

    directory: str | None = None
    # Per-key bounds are msgspec constraints (checked on decode; NaN and infinity refused).
    max_bytes: Annotated[int, msgspec.Meta(ge=4096, le=_MAX_BYTES)] = 256 * 1024 * 1024
    max_events: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 1_000_000
    segment_bytes: Annotated[int, msgspec.Meta(ge=512, le=1 << 30)] = 4 * 1024 * 1024
    fsync: FsyncPolicy = "interval"
    fsync_interval_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 1.0

    def __post_init__(self) -> None:
        # Repeated from the constraints for settings built in code, which msgspec does not check.
        if not (self.max_bytes >= 4096 and self.max_events >= 1):
            raise ValueError("spool max_bytes must be at least 4096 and max_events at least 1")
        if not 512 <= self.segment_bytes <= self.max_bytes:
            raise ValueError("spool segment_bytes must be within [512, max_bytes]")
