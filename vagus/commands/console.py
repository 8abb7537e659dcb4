"""`vagus console serve|ingest`: the clinician console over its own database (console/)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import sys
from typing import Any

from console.db import DatabaseError
from vagus.commands import console_registry
from vagus.commands.common import Handlers, run_async, with_bootstrap
from vagus.commands.console_users import cmd_users, register_users
from vagus.config import ConfigError, VagusConfig

DB_HELP = "the console's database: a SQLite file path or a postgresql:// URL"
log = logging.getLogger(__name__)


def register(commands: Any) -> Handlers:
    console = commands.add_parser(
        "console",
        help="the clinician's web pages over the topics",
        description="Keep the event topics in a database (SQLite, or PostgreSQL by URL) and "
        "serve pages over it: patients, timelines, and why each decision was taken.",
    )
    console_commands = console.add_subparsers(dest="console_command", required=True)
    serve = console_commands.add_parser(
        "serve",
        help="serve the pages, ingesting from Kafka meanwhile",
        description="Serve the console until SIGINT or SIGTERM. With a Kafka (--bootstrap or "
        "the configuration) it ingests the event topics as they arrive, resuming where it "
        "stopped; without one it shows the database as it is.",
    )
    serve.add_argument("--db", required=True, help=DB_HELP)
    serve.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this host)"
    )
    serve.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    ingest = console_commands.add_parser(
        "ingest",
        help="ingest the event topics into the database",
        description="Read every event topic into the database, idempotently by event id, from "
        "where the last ingest stopped. With --once: until caught up, then print counts.",
    )
    ingest.add_argument("--db", required=True, help=DB_HELP)
    ingest.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    ingest.add_argument("--once", action="store_true", help="stop when caught up")
    ingest.add_argument(
        "--fetch-size", type=int, default=500, help="at most this many per fetch (default 500)"
    )
    console_registry.register(console_commands)
    register_users(console_commands)
    return {"console": cmd_console}


def cmd_console(args: argparse.Namespace, config: VagusConfig) -> int:
    try:
        if args.console_command in console_registry.COMMANDS:
            return console_registry.run(args)
        if args.console_command == "users":
            return cmd_users(args)
        config = with_bootstrap(config, args.bootstrap)
        if args.console_command == "serve":
            return _serve(args, config)
        return _ingest(args, config)
    except DatabaseError as exc:  # one line and exit 2, as the CLI reports a bad setting
        raise ConfigError(str(exc)) from exc


def _serve(args: argparse.Namespace, config: VagusConfig) -> int:
    from console import create_schema, open_database  # noqa: PLC0415

    try:
        from console.serve import bind, serve  # noqa: PLC0415 - the web stack only when serving
    except ImportError as exc:
        raise ConfigError(
            f"the console's web pages need the 'console' extra ({exc.name} is missing):"
            " pip install -e '.[console]'"
        ) from exc

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a TCP port")
    from console.accounts import accounts  # noqa: PLC0415

    with open_database(args.db) as db:  # a database that cannot be used fails before the port
        create_schema(db)
        nobody = not accounts(db)
    sock = bind(args.host, args.port)
    kafka = config.kafka if config.kafka.bootstrap is not None else None
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"vagus console: http://{shown}:{port}/", file=sys.stderr, flush=True)
    if kafka is None:
        print("vagus console: no Kafka configured; showing the database as it is", file=sys.stderr)
    warning = exposure_warning(host)
    if warning:
        print(f"vagus console: WARNING: {warning}", file=sys.stderr)
    else:
        print(
            "vagus console: plain http on loopback: session cookies without Secure", file=sys.stderr
        )
    if nobody:
        print(
            "vagus console: no account yet; make the first with"
            " `vagus console users add NAME --role admin --db DB`",
            file=sys.stderr,
        )

    from vagus.scorer_facts import bundled_scorer_facts  # noqa: PLC0415

    facts = bundled_scorer_facts()

    async def go() -> int:
        await serve(args.db, sock, kafka=kafka, default_policy=config.policy, scorer_facts=facts)
        return 0

    return run_async(go)


def exposure_warning(host: str) -> str | None:
    """What to say when the console listens on ``host`` (numeric) beyond this machine."""
    if ipaddress.ip_address(host.partition("%")[0]).is_loopback:
        return None
    return (
        f"listening on {host}, beyond this host; session cookies are Secure, so browsers log in"
        " only through an https front (a TLS proxy) to this address"
    )


def _ingest(args: argparse.Namespace, config: VagusConfig) -> int:
    from console import ingest_until_caught_up, open_database, run_ingest  # noqa: PLC0415
    from console.schema import create_schema  # noqa: PLC0415

    if config.kafka.bootstrap is None:
        raise ConfigError("console ingest needs a Kafka: --bootstrap or [kafka] bootstrap")
    if args.fetch_size < 1:
        raise ConfigError("--fetch-size must be at least 1")

    async def go() -> int:
        import asyncio  # noqa: PLC0415

        with open_database(args.db) as db:
            create_schema(db)
            if args.once:
                result = await ingest_until_caught_up(config.kafka, db, max_records=args.fetch_size)
            else:
                stop = asyncio.Event()  # set by nothing: runs until SIGINT or SIGTERM
                result = await run_ingest(config.kafka, db, stop, max_records=args.fetch_size)
        print(json.dumps({k: v for k, v in vars(result).items() if k != "partitions"}))
        return 0

    return run_async(go)
