"""`vagus doctor`: what staff need to help a patient remotely, in one screen.

Reports the Bluetooth adapter, the configured devices, whether the broker answers a metadata
request, the disk spool, the time the gateway last delivered an event and whether the gateway is
enrolled (holds a signing key for its patient: the closed loop acts on nothing else). Its output
never holds a device address, an advertised name, a label or the broker's address (a patient may
read it out over the phone); the exit status is 1 when anything needs attention, 0 when all is well.

Events the spool lost (evicted when full, a torn tail after a crash) stay a problem across
restarts until someone acknowledges them with ``vagus doctor --ack``, which logs who and when.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vagus.commands.common import Handlers, with_bootstrap
from vagus.config import VagusConfig
from vagus.safety_check import safety_conflicts

BROKER_TIMEOUT_S = 3.0
#: Spooled events older than this mean the gateway has not been delivering for a while.
STALE_SPOOL_S = 300.0
SYSFS_BLUETOOTH = Path("/sys/class/bluetooth")
log = logging.getLogger(__name__)


def register(commands: Any) -> Handlers:
    doctor = commands.add_parser(
        "doctor",
        help="check adapter, devices, broker, spool and last event",
        description="One screen for staff helping a patient remotely: Bluetooth adapter, "
        "configured devices, broker, disk spool and the gateway's last event. Nothing in it "
        "identifies a device or the broker; exit 1 when anything needs attention.",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.add_argument("--bootstrap", help="check this Kafka instead of the configured one")
    doctor.add_argument(
        "--timeout", type=float, default=BROKER_TIMEOUT_S, help="broker check timeout, s"
    )
    doctor.add_argument(
        "--ack",
        action="store_true",
        help="acknowledge the spool's past losses (evicted events, torn tails), then check",
    )
    return {"doctor": cmd_doctor}


def _iso(time_ns: int | None) -> str | None:
    if time_ns is None:
        return None
    return datetime.fromtimestamp(time_ns / 1e9, UTC).isoformat(timespec="seconds")


def check_adapter(sysfs: Path = SYSFS_BLUETOOTH) -> dict[str, Any]:
    """Adapters the kernel knows (hciN: an index, not an address), and whether bleak loads."""
    adapters = sorted(p.name for p in sysfs.glob("hci*")) if sysfs.is_dir() else []
    try:
        import bleak  # noqa: F401, PLC0415 - only whether it can load

        bleak_ok = True
    except ImportError:
        bleak_ok = False
    return {"adapters": len(adapters), "names": adapters, "bleak": bleak_ok}


def check_devices(config: VagusConfig) -> list[dict[str, Any]]:
    """Configured devices by profile and how they are matched; never the address or label."""
    return [
        {
            "index": index,
            "profile": device.profile,
            "matched_by": "address" if device.address else "name_prefix",
        }
        for index, device in enumerate(config.devices, start=1)
    ]


async def check_broker(config: VagusConfig, timeout_s: float) -> dict[str, Any]:
    """A metadata request with a short timeout: reachable, how many brokers, how fast."""
    if config.kafka.bootstrap is None:
        return {"configured": False, "reachable": None}
    library_log = logging.getLogger("aiokafka")
    level_before = library_log.level
    library_log.setLevel(logging.CRITICAL)  # its errors name the address
    try:
        return await _metadata(config, timeout_s)
    finally:
        library_log.setLevel(level_before)


async def _metadata(config: VagusConfig, timeout_s: float) -> dict[str, Any]:
    from aiokafka import AIOKafkaClient  # noqa: PLC0415
    from aiokafka.errors import KafkaError  # noqa: PLC0415

    from stream.errors import StreamError  # noqa: PLC0415

    started = time.monotonic()
    try:
        client = AIOKafkaClient(
            request_timeout_ms=int(timeout_s * 1000), **config.kafka.client_kwargs()
        )
    except StreamError as exc:
        return {"configured": True, "reachable": False, "error": str(exc)}
    try:
        async with asyncio.timeout(timeout_s):
            await client.bootstrap()
            brokers = len(client.cluster.brokers())
    except (KafkaError, OSError, TimeoutError) as exc:
        return {"configured": True, "reachable": False, "error": type(exc).__name__}
    finally:
        await client.close()
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    return {"configured": True, "reachable": True, "brokers": brokers, "response_ms": elapsed_ms}


def check_spool_and_status(config: VagusConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    from stream.spool_segments import open_losses, read_spool_summary  # noqa: PLC0415
    from vagus.state_paths import state_paths  # noqa: PLC0415

    paths = state_paths(config)
    summary = read_spool_summary(paths.spool_dir)
    lost = open_losses(paths.spool_dir)
    now = time.time_ns()
    oldest = summary.oldest_spooled_at_ns
    spool = {
        "events": summary.events,
        "bytes": summary.bytes,
        "oldest": _iso(oldest),
        "oldest_age_s": None if oldest is None else round((now - oldest) / 1e9, 1),
        "torn_tail_bytes": summary.torn_tail_bytes,
        # Not yet acknowledged (`vagus doctor --ack`); kept in the spool folder across restarts.
        "lost": {
            "evicted": lost.evicted,
            "torn_tails": lost.torn_tails,
            "since": _iso(lost.since_ns),
        },
    }
    status: dict[str, Any] = {"found": False}
    try:
        saved = json.loads(paths.status_file.read_text())
    except (OSError, ValueError):
        saved = None
    if isinstance(saved, dict):
        sent = saved.get("last_event_sent_ns")
        status = {
            "found": True,
            "last_event_sent": _iso(sent) if isinstance(sent, int) else None,
            "last_event_age_s": round((now - sent) / 1e9, 1) if isinstance(sent, int) else None,
            "gateway_saw_broker": saved.get("broker_reachable"),
            "gateway_broker_refusal": saved.get("broker_refusal"),
            "evicted_events": saved.get("spool", {}).get("evicted", 0),
            "updated": _iso(saved.get("updated_ns")),
        }
    return spool, status


def check_enrolment(config: VagusConfig) -> dict[str, Any]:
    """Whether the gateway holds a signing key for its patient (never the secret)."""
    from vagus.gateway_key import key_status  # noqa: PLC0415
    from vagus.state_paths import state_paths  # noqa: PLC0415

    status = key_status(state_paths(config).key_file, config.live.patient_id)
    return {
        "enrolled": status.key is not None and status.problem is None,
        "key_id": status.key.key_id if status.key is not None else None,
        "problem": status.problem,
    }


def problems_in(report: dict[str, Any]) -> list[str]:
    """What needs attention, in words staff can read out."""
    problems = []
    if not report["adapter"]["adapters"]:
        problems.append("no Bluetooth adapter found")
    if not report["devices"]:
        problems.append("no devices configured")
    broker = report["broker"]
    if not broker["configured"]:
        problems.append("no Kafka bootstrap configured")
    elif not broker["reachable"]:
        problems.append("broker unreachable")
    refusal = report.get("gateway", {}).get("gateway_broker_refusal")
    if refusal:
        problems.append(
            f"the broker refuses the gateway's writes ({refusal}): check its ACLs and"
            " credentials (docs/security.md)"
        )
    spool = report["spool"]
    if spool["oldest_age_s"] is not None and spool["oldest_age_s"] > STALE_SPOOL_S:
        problems.append(f"{spool['events']} events waiting in the spool")
    if spool["torn_tail_bytes"]:
        problems.append("spool has a damaged tail")
    lost = spool["lost"]
    if lost["evicted"]:
        problems.append(
            f"{lost['evicted']} events evicted since {lost['since']} (spool was full);"
            " acknowledge with vagus doctor --ack"
        )
    if lost["torn_tails"]:
        problems.append(
            f"{lost['torn_tails']} damaged spool tails since {lost['since']} (an event cut off);"
            " acknowledge with vagus doctor --ack"
        )
    if not report["gateway"]["found"]:
        problems.append("no gateway status yet (has the gateway run?)")
    if report["enrolment"]["problem"] is not None:
        problems.append(report["enrolment"]["problem"])
    return problems


def acknowledge(config: VagusConfig) -> None:
    """Accept the spool's losses so far; the log line says who and when (no patient data)."""
    from stream.spool_segments import acknowledge_losses  # noqa: PLC0415
    from vagus.state_paths import state_paths  # noqa: PLC0415

    by = os.environ.get("SUDO_USER") or getpass.getuser()
    seen = acknowledge_losses(state_paths(config).spool_dir, by=by)
    log.warning(
        "spool losses acknowledged by %s at %s: %d evicted events, %d damaged tails",
        by,
        _iso(time.time_ns()),
        seen.evicted,
        seen.torn_tails,
    )


def cmd_doctor(args: argparse.Namespace, config: VagusConfig) -> int:
    config = with_bootstrap(config, args.bootstrap)
    if args.ack:
        acknowledge(config)
    spool, status = check_spool_and_status(config)
    report: dict[str, Any] = {
        "adapter": check_adapter(),
        "devices": check_devices(config),
        "broker": asyncio.run(check_broker(config, args.timeout)),
        "spool": spool,
        "gateway": status,
        "enrolment": check_enrolment(config),
        # Where the device is stricter than the policy: sessions the loop allows are refused.
        "safety_warnings": safety_conflicts(config)[1],
    }
    report["problems"] = problems_in(report)
    report["ok"] = not report["problems"]
    if args.json:
        print(json.dumps(report))
    else:
        print(render(report))
    return 0 if report["ok"] else 1


def render(report: dict[str, Any]) -> str:
    adapter, broker, spool, gateway, enrolment = (
        report["adapter"],
        report["broker"],
        report["spool"],
        report["gateway"],
        report["enrolment"],
    )
    lines = [
        f"adapter:  {', '.join(adapter['names']) or 'no adapter found'}"
        f" (bleak {'loads' if adapter['bleak'] else 'missing'})",
        f"devices:  {len(report['devices'])} configured"
        + "".join(
            f"\n  {d['index']}. {d['profile']} by {d['matched_by']}" for d in report["devices"]
        ),
        "broker:   "
        + (
            "not configured"
            if not broker["configured"]
            else f"reachable ({broker['response_ms']} ms)"
            if broker["reachable"]
            else f"UNREACHABLE ({broker.get('error', '')}): the gateway spools until it answers"
        ),
        f"spool:    {spool['events']} events, {spool['bytes']} bytes, oldest {spool['oldest']}",
        f"lost:     {spool['lost']['evicted']} evicted, {spool['lost']['torn_tails']} damaged"
        " tails (not acknowledged)",
        f"last sent: {gateway.get('last_event_sent') or 'never (or no status file)'}",
        "enrolled: "
        + (f" key {enrolment['key_id']}" if enrolment["enrolled"] else " NO (see status)"),
        *(f"warning:  {warning}" for warning in report["safety_warnings"]),
        "status:   " + ("OK" if report["ok"] else "; ".join(report["problems"])),
    ]
    return "\n".join(lines)
