"""Where the gateway keeps its state, so the gateway and `vagus doctor` agree on the paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vagus.config import VagusConfig

DEFAULT_STATE_DIR = "~/.local/state/vagus"
STATUS_FILE = "gateway-status.json"


@dataclass(frozen=True, slots=True)
class StatePaths:
    state_dir: Path
    spool_dir: Path
    status_file: Path

    @classmethod
    def under(cls, state_dir: Path, spool_directory: str | None = None) -> StatePaths:
        spool = Path(spool_directory).expanduser() if spool_directory else state_dir / "spool"
        return cls(state_dir, spool, state_dir / STATUS_FILE)


def state_paths(config: VagusConfig) -> StatePaths:
    """``[live] state_dir`` when the configuration has one, else the default; ``[spool]
    directory`` overrides the spool's place."""
    live: Any = getattr(config, "live", None)
    state_dir = Path(getattr(live, "state_dir", DEFAULT_STATE_DIR)).expanduser()
    return StatePaths.under(state_dir, config.spool.directory)
