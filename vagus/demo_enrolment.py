"""The demo enrols its own gateway: a registry and a key file in its run folder.

The demo's worker checks signatures like any other (there is no switch to turn that off), so
before it starts, the recording's patient gets a fresh key in ``<work dir>/enrolment.json``, the
worker's configuration points there, and the demo's gateway signs with the key file beside it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from ingest.replay import open_recording
from stream.enrolment import KEY_FILE, issue_key, read_gateway_key, write_gateway_key
from stream.signing import GatewayKey
from vagus.config import EnrolmentSettings, VagusConfig

REGISTRY_FILE = "enrolment.json"


def enrol_demo_gateway(config: VagusConfig, work_dir: Path, recording: Path) -> VagusConfig:
    """Issue a key for ``recording``'s patient; return ``config`` with the worker's registry
    in ``work_dir`` (the key file is written there too, for :func:`demo_gateway_key`)."""
    registry = work_dir / REGISTRY_FILE
    entry = issue_key(registry, open_recording(recording).header.patient_id)
    write_gateway_key(work_dir / KEY_FILE, entry.gateway_key(), issued_at_ns=entry.issued_at_ns)
    return msgspec.structs.replace(config, enrolment=EnrolmentSettings(registry_file=str(registry)))


def demo_gateway_key(work_dir: Path) -> GatewayKey | None:
    """The key :func:`enrol_demo_gateway` wrote for the demo's gateway."""
    return read_gateway_key(work_dir / KEY_FILE)
