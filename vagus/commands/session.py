"""`vagus session stop|not-now`: the patient's controls from a shell on the gateway.

They reach the running gateway through its local control socket (vagus.control_socket), so
they work while the broker is unreachable; the gateway reports the stop as the session's
``aborted`` outcome (``aborted by patient:cli``) and tells the closed loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from vagus.commands.common import Handlers
from vagus.config import VagusConfig
from vagus.control_socket import SOCKET_NAME, ControlUnavailableError, send_request
from vagus.state_paths import state_paths


def register(commands: Any) -> Handlers:
    session = commands.add_parser(
        "session",
        help="stop the running session, or say not now",
        description="The patient's controls from a shell on the gateway: 'stop' ends the "
        "running session at once; 'not-now' also keeps the device silent for the policy's "
        "cooldown. Reaches the gateway running with this configuration's [live] state_dir.",
    )
    actions = session.add_subparsers(dest="session_command", required=True, metavar="ACTION")
    actions.add_parser(
        "stop",
        help="stop the running session now",
        description="Stop the running session at once (it fades out over about two seconds).",
    )
    actions.add_parser(
        "not-now",
        help="stop any session and hold new ones for the cooldown",
        description="Stop any running session and start none for the policy's cooldown.",
    )
    return {"session": cmd_session}


def cmd_session(args: argparse.Namespace, config: VagusConfig) -> int:
    path = state_paths(config).state_dir / SOCKET_NAME
    try:
        reply = asyncio.run(send_request(path, args.session_command))
    except ControlUnavailableError as exc:
        print(f"vagus: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply))
    return 0 if reply.get("ok") else 1
