"""Where the gateway keeps its state, so the gateway and `vagus doctor` agree on the paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stream.enrolment import KEY_FILE
from vagus.config import LiveSettings, VagusConfig

DEFAULT_STATE_DIR = LiveSettings().state_dir
STATUS_FILE = "gateway-status.json"


@dataclass(frozen=True, slots=True)
class StatePaths:
    state_dir: Path
    spool_dir: Path
    status_file: Path
    #: The gateway's signing key, written by `vagus enrol` (stream.enrolment).
    key_file: Path

    @classmethod
    def under(cls, state_dir: Path, spool_directory: str | None = None) -> StatePaths:
        spool = Path(spool_directory).expanduser() if spool_directory else state_dir / "spool"
        return cls(state_dir, spool, state_dir / STATUS_FILE, state_dir / KEY_FILE)


def state_paths(config: VagusConfig) -> StatePaths:
    """``[live] state_dir`` (``DEFAULT_STATE_DIR`` unless configured); ``[spool] directory``
    overrides the spool's place."""
    state_dir = Path(config.live.state_dir).expanduser()
    return StatePaths.under(state_dir, config.spool.directory)
