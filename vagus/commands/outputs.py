"""`vagus outputs test`: a short cue on each configured output in turn, for the installer.

Each output plays (or, with ``--wav DIR``, renders to a file) a cue that fades in, paces two
breaths and fades out at half the strictest intensity cap that applies to it. Outputs are named
by kind and label, never by address. Exit 0 when every output played, 1 when one failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hardware.ble_haptic import BleBackendKwargs, BleHapticBand
from hardware.clock import Clock, WallClock
from hardware.devices import OutputDevice
from stream.events import SessionParameters
from vagus.commands.common import Handlers
from vagus.commands.devices import add_backend_option, run_ble
from vagus.config import VagusConfig
from vagus.config_outputs import BleHapticOutput, OutputSettings, SimulatedOutput

#: The test cue: 10 breaths a minute (inside every policy's range), 6-s breaths, so the default
#: 12 s is a fade in, two breaths and a fade out (the fades take half the cue each way).
CUE_BREATHS_PER_MIN = 10.0
CUE_SECONDS = 12.0
#: The cue's strength, as a share of the strictest cap on the output.
CUE_SHARE_OF_CAP = 0.5
#: A band gets one attempt (a scan, then bleak-retry-connector's tries), at most this long
#: beyond the scan, before its test counts as failed.
BAND_CONNECT_GRACE_S = 10.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 2 <= value <= 60:
        raise argparse.ArgumentTypeError("must be a number of seconds within 2..60")
    return value


def register(commands: Any) -> Handlers:
    outputs = commands.add_parser(
        "outputs",
        help="check the configured outputs (shaker, light, band)",
        description="Check what renders the calming sessions, as configured in [[outputs]] "
        "(docs/configuration.md).",
    )
    output_commands = outputs.add_subparsers(dest="outputs_command", required=True)
    test = output_commands.add_parser(
        "test",
        help="play a short cue on each configured output in turn",
        description="Plays a short cue (fade in, two breaths, fade out, at half the intensity "
        "cap) on each configured output, one after another, and says what each did. Run it "
        "while `vagus gateway` is stopped: a band takes one central, a sound card one player.",
    )
    test.add_argument(
        "--wav",
        type=Path,
        metavar="DIR",
        help="render each output to DIR/output-N-KIND.wav instead of the device",
    )
    test.add_argument(
        "--seconds",
        type=_seconds,
        default=CUE_SECONDS,
        help=f"cue length, 2-60 (default {CUE_SECONDS:g})",
    )
    add_backend_option(test)
    return {"outputs": cmd_outputs}


def cue(settings: OutputSettings, config: VagusConfig, seconds: float) -> SessionParameters:
    """The test cue for one output: well within its cap and the gateway's."""
    cap = config.device_limits.max_intensity
    if not isinstance(settings, SimulatedOutput):
        cap = min(cap, settings.max_intensity)
    return SessionParameters(
        duration_s=seconds,
        breaths_per_min=CUE_BREATHS_PER_MIN,
        inhale_fraction=0.4,
        intensity=CUE_SHARE_OF_CAP * cap,
    )


def cmd_outputs(args: argparse.Namespace, config: VagusConfig) -> int:
    if args.wav is not None:
        try:
            args.wav.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"vagus: --wav {args.wav}: {exc.strerror}", file=sys.stderr)
            return 2
    backend = args.backend or config.live.backend
    return run_ble(lambda: _test(config, backend=backend, wav=args.wav, seconds=args.seconds))


async def _test(config: VagusConfig, *, backend: str, wav: Path | None, seconds: float) -> int:
    from vagus.outputs import JumpClock, build_outputs, wav_stand_in  # noqa: PLC0415

    if not config.outputs:
        print("no [[outputs]] configured: only the simulated pacer (the patient feels nothing)")
    if wav is not None:
        entries = list(config.outputs) or [SimulatedOutput()]
        devices = [(i, s, wav_stand_in(i, s, wav)) for i, s in enumerate(entries)]
        return await _play_each(config, devices, JumpClock(), seconds)
    async with _bluetooth(config, backend) as ble:
        outputs = build_outputs(config, ble=ble)
        async with outputs.running(control=None):
            devices = [(b.index, b.settings, b.device) for b in outputs.built]
            return await _play_each(config, devices, WallClock(), seconds)


@contextlib.asynccontextmanager
async def _bluetooth(config: VagusConfig, backend: str) -> AsyncIterator[BleBackendKwargs | None]:
    """The BLE backend when a band is configured (the virtual world only then), else None."""
    if not any(isinstance(o, BleHapticOutput) for o in config.outputs):
        yield None
        return
    from vagus.live import ble_backend  # noqa: PLC0415

    async with ble_backend(config, backend, need_targets=False) as (ble, _targets):
        yield ble


async def _play_each(
    config: VagusConfig,
    devices: list[tuple[int, OutputSettings, OutputDevice]],
    clock: Clock,
    seconds: float,
) -> int:
    failed: list[str] = []
    from vagus.outputs import output_title  # noqa: PLC0415

    for index, settings, device in devices:
        title = output_title(index, settings)
        try:
            if isinstance(device, BleHapticBand):
                grace_s = config.live.scan_timeout_s + BAND_CONNECT_GRACE_S
                await device.wait_connected(grace_s, one_attempt=True)
            report = await device.render(cue(settings, config, seconds), clock, asyncio.Event())
        except Exception as exc:  # noqa: BLE001 - one output's fault must not skip the others
            failed.append(f"{title} ({type(exc).__name__}: {exc})")
            print(f"{title}: FAILED: {type(exc).__name__}: {exc}")
            continue
        breaths = f"{report.breaths} breath{'' if report.breaths == 1 else 's'}"
        print(f"{title}: ran {report.ran_s:.1f} s, {breaths} {_where(device)}")
        if not report.completed:
            failed.append(f"{title} (stopped early)")
    if failed:
        summary = f"{len(failed)} of {len(devices)} outputs failed: " + "; ".join(failed)
        print(f"vagus: {summary}", file=sys.stderr)
        return 1
    return 0


def _where(device: OutputDevice) -> str:
    """Which device played it, and the file when it went to one."""
    from hardware.audio import WavVibroacousticDevice  # noqa: PLC0415
    from vagus.outputs import LevelWavDevice, PcmWavDevice  # noqa: PLC0415

    if isinstance(device, PcmWavDevice | LevelWavDevice):
        return f"-> {device.path}"
    if isinstance(device, WavVibroacousticDevice) and device.written:
        return f"-> {device.written[-1]} (no sound device: a file, not the shaker)"
    return f"via {device.name}"
