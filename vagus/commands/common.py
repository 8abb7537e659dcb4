"""What several subcommands share: the handler type, the speed option, bootstrap override, and a
runner that lets Ctrl-C and SIGTERM unwind a coroutine through its finally blocks."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import textwrap
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from ingest.errors import IngestError
from ingest.replay import Speed
from vagus.config import VagusConfig

Handler = Callable[[argparse.Namespace, VagusConfig], int]
Handlers = dict[str, Handler]

SPEED_HELP = textwrap.dedent(
    """\
    replay pace; the original timestamps are kept whatever the pace:
      realtime  as recorded (1x)
      N or Nx   N times real time, e.g. 10x or 0.5
      max       as fast as the pipeline goes; the gateway then waits for the
                closed loop's decision on each window it must decide on, so
                decisions stay causal"""
)


def parse_speed(text: str) -> Speed:
    """argparse type for --speed: a usage error, not a traceback, for a bad value."""
    try:
        return Speed.parse(text)
    except IngestError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def with_bootstrap(config: VagusConfig, bootstrap: str | None) -> VagusConfig:
    """The configuration with --bootstrap, when given, in place of the configured Kafka."""
    if bootstrap is None:
        return config
    return msgspec.structs.replace(config, kafka=config.kafka.with_bootstrap(bootstrap))


def run_async(coroutine_factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a coroutine so that SIGINT and SIGTERM both unwind it through its finally blocks."""

    async def main() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await coroutine_factory()

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("vagus: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
