"""`vagus devices scan|status`: which supported wearables are near, and how the configured ones
are (battery, device information, connection).

Addresses and advertised names are shown only with ``scan --show-addresses``, on the operator's
own terminal, to pair a new strap; they are never logged, written or sent anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from vagus.commands.common import Handlers, run_async
from vagus.config import VagusConfig

BACKENDS = ("bleak", "virtual")


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--backend virtual`` runs against in-process virtual wearables (development, tests)."""
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)


def run_ble(coroutine_factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """:func:`run_async`, with a missing or refusing Bluetooth stack as one clear line."""
    from bleak.exc import BleakError  # noqa: PLC0415

    try:
        return run_async(coroutine_factory)
    except (BleakError, OSError) as exc:
        from ingest.transport.identity import redact_addresses  # noqa: PLC0415

        reason = redact_addresses(str(exc)) or type(exc).__name__
        print(
            f"vagus: Bluetooth is not available ({reason}); is bluetoothd running and may this"
            " user use it? See docs/devices.md",
            file=sys.stderr,
        )
        return 2


def register(commands: Any) -> Handlers:
    devices = commands.add_parser(
        "devices",
        help="scan for wearables; status of configured ones",
        description="Find supported wearables nearby to pair one, or check the battery and "
        "connection of the configured ones (docs/devices.md).",
    )
    device_commands = devices.add_subparsers(dest="devices_command", required=True)
    scan = device_commands.add_parser(
        "scan",
        help="nearby supported devices: profile, pseudonymous id, signal strength",
        description="Lists devices that advertise a supported profile. Addresses stay hidden "
        "unless --show-addresses (for pairing at the gateway's own terminal).",
    )
    scan.add_argument("--seconds", type=float, default=5.0, help="how long to listen (default 5)")
    scan.add_argument("--min-rssi", type=int, help="leave out devices weaker than this (dBm)")
    scan.add_argument("--name-prefix", help="only devices whose advertised name starts so")
    scan.add_argument(
        "--show-addresses",
        action="store_true",
        help="also print address and name, on this terminal only, to pair a device",
    )
    scan.add_argument("--json", action="store_true", help="one JSON document")
    add_backend_option(scan)
    status = device_commands.add_parser(
        "status",
        help="battery, device information and connection of the configured devices",
        description="Connects to each configured device, reads Battery and Device Information, "
        "and disconnects. Run it while `vagus gateway` is stopped: a device takes one central.",
    )
    status.add_argument("--seconds", type=float, default=20.0, help="give up after (default 20)")
    status.add_argument("--json", action="store_true", help="one JSON document")
    add_backend_option(status)
    return {"devices": cmd_devices}


def cmd_devices(args: argparse.Namespace, config: VagusConfig) -> int:
    backend = args.backend or config.live.backend
    if args.devices_command == "scan":
        return run_ble(lambda: _scan(args, config, backend))
    return run_ble(lambda: _status(args, config, backend))


async def _scan(args: argparse.Namespace, config: VagusConfig, backend: str) -> int:
    from ingest.transport.identity import load_or_create_secret  # noqa: PLC0415
    from ingest.transport.scanner import ScanFilter, scan  # noqa: PLC0415
    from vagus.live import ble_backend, state_dir  # noqa: PLC0415

    secret = load_or_create_secret(state_dir(config))
    wanted = ScanFilter(name_prefix=args.name_prefix, min_rssi=args.min_rssi)
    async with ble_backend(config, backend, need_targets=False) as (ble, _targets):
        sightings = await scan(args.seconds, secret=secret, backend=ble, scan_filter=wanted)
    rows: list[dict[str, Any]] = []
    for sighting in sightings:
        row: dict[str, Any] = {
            "device_id": sighting.device_id,
            "profile": sighting.profile,
            "rssi": sighting.rssi,
        }
        if args.show_addresses:
            row |= {"address": sighting.address, "name": sighting.name}
        rows.append(row)
    if args.json:
        print(json.dumps({"seconds": args.seconds, "devices": rows}))
        return 0
    if not rows:
        print(f"no supported device heard in {args.seconds:g} s")
    for row in rows:
        extra = f"  {row['address']}  {row['name'] or ''}" if args.show_addresses else ""
        print(f"{row['device_id']}  {row['profile']:<28} {row['rssi']:>4} dBm{extra}")
    return 0


async def _status(args: argparse.Namespace, config: VagusConfig, backend: str) -> int:
    from vagus.live import device_status  # noqa: PLC0415

    rows = await device_status(config, seconds=args.seconds, backend=backend)
    if args.json:
        print(json.dumps({"devices": rows}))
    else:
        for row in rows:
            state = "connected" if row["connected"] else "not connected"
            battery = "?" if row["battery_percent"] is None else f"{row['battery_percent']}%"
            print(
                f"{row['device_id'] or '(not found)'}  {row['profile']}  {row['label']!r}  "
                f"{state}  battery {battery}  {row['manufacturer'] or '?'} {row['model'] or '?'} "
                f"fw {row['firmware'] or '?'}  {row['last_error']}"
            )
    return 0 if all(row["info_read"] for row in rows) else 1
