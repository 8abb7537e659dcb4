"""The `vagus` command line: one subcommand per job, each a thin call into the packages.

The subcommands live in `vagus.commands`, one module per family; this module only assembles
them, sets up logging and turns the packages' own errors, and a path that cannot be read or
written, into one clear line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from closedloop.policy import PolicyError
from ingest.errors import IngestError
from stream.errors import StreamError
from vagus.commands import (
    analyze,
    console,
    devices,
    doctor,
    enrol,
    export,
    gateway,
    importing,
    outputs,
    policy,
    record,
    recording,
    replay,
    report,
    resonance,
    services,
    session,
    topics,
)
from vagus.commands.common import Handlers
from vagus.config import ConfigError, load_config
from vagus.model import cli as model_cli
from vagus.quiet_logs import quiet_broker_retries
from vagus.structured_logs import JsonLines, PatientField, use_json

COMMAND_MODULES: tuple[ModuleType, ...] = (
    replay,
    recording,
    services,
    topics,
    policy,
    resonance,
    model_cli,
    importing,
    devices,
    record,
    gateway,
    enrol,
    doctor,
    session,
    outputs,
    analyze,
    report,
    console,
    export,
)


def configure_logging(verbose: bool) -> None:
    """Our own progress at INFO with -v; client libraries only when something is wrong. One JSON
    object per line when stderr is not a terminal (vagus.structured_logs)."""
    handler = logging.StreamHandler()
    handler.addFilter(PatientField())
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonLines() if use_json() else text)  # JSON for journald and files
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    for noisy in ("aiokafka", "faust", "mode", "kafka", "bleak", "bumble"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    quiet_broker_retries()  # a broker away is our one warning per change, not a line per retry


def version() -> str:
    """The installed distribution's version; the source tree's when running uninstalled."""
    try:
        return importlib.metadata.version("vagus")
    except importlib.metadata.PackageNotFoundError:
        import vagus  # noqa: PLC0415

        return vagus.__version__


def _assemble() -> tuple[argparse.ArgumentParser, Handlers]:
    parser = argparse.ArgumentParser(
        prog="vagus",
        description="Wearable signals to calming interventions, closed loop. Research software, "
        "not a medical device.",
    )
    parser.add_argument("--version", action="version", version=f"vagus {version()}")
    parser.add_argument("--config", type=Path, help="TOML (or JSON) configuration file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers: Handlers = {}
    for module in COMMAND_MODULES:
        handlers.update(module.register(subparsers))
    return parser, handlers


def build_parser() -> argparse.ArgumentParser:
    return _assemble()[0]


COMMANDS: Handlers = _assemble()[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = _assemble()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        config = load_config(args.config)
        return handlers[args.command](args, config)
    except (ConfigError, IngestError, StreamError, PolicyError) as exc:
        print(f"vagus: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A path the user named that is missing, a folder, unreadable or unwritable is their
        # mistake to fix, not a bug: one line, as the shell's own tools put it. An OSError
        # without a filename (a refused connection, say) is not about a path and stays loud.
        if exc.filename is None:
            raise
        print(f"vagus: {os.fsdecode(exc.filename)}: {exc.strerror or exc}", file=sys.stderr)
        return 2
