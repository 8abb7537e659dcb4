"""The vibroacoustic signal on a real sound device, through ALSA's ``aplay`` (Debian alsa-utils).

Why a subprocess and not a binding: PortAudio and friends are not on every gateway or CI machine,
while ``aplay`` reading raw PCM from stdin needs no Python dependency at all. The PCM is the same
rendering the WAV device writes (hardware.audio.stream_session). Back-pressure: each chunk waits
until the pipe has taken it, and the rendering runs at most ``lead_s`` ahead of the clock, so an
abort is heard within about that long (then the usual two-second fade). A player that stops
taking data for ``stall_timeout_s`` fails the session; the player is killed whenever a session
ends in any other way than draining normally (failure, cancellation).

:func:`vibroacoustic_output` chooses at construction: the sound device when ``aplay`` and a
sound card (or an explicitly named ALSA device) exist, else the WAV file device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from hardware.audio import ABORT_FADE_S, WavVibroacousticDevice, stream_session
from hardware.clock import Clock
from hardware.devices import FanOutDevice, OutputDevice, SessionReport
from stream.events import SessionParameters

log = logging.getLogger(__name__)

#: Where Linux lists its sound cards; "no soundcards" (or no file) means there is none.
ASOUND_CARDS = Path("/proc/asound/cards")


class SoundDeviceError(RuntimeError):
    """The sound player failed, exited early or stopped taking audio."""


@dataclass
class AplayVibroacousticDevice:
    """Plays each session through ``player`` (an ``aplay`` executable) on ``alsa_device``."""

    player: Path
    alsa_device: str | None = None
    sample_rate_hz: int = 8000
    max_intensity: float = 1.0
    chunk_s: float = 0.25
    lead_s: float = 0.5
    stall_timeout_s: float = 5.0
    name: str = "aplay-vibroacoustic"

    def command(self) -> list[str]:
        args = [str(self.player), "-q", "-t", "raw", "-f", "S16_LE", "-c", "1"]
        args += ["-r", str(self.sample_rate_hz)]
        if self.alsa_device is not None:
            args += ["-D", self.alsa_device]
        return args

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:  # removed or not executable since construction
            raise SoundDeviceError(f"cannot start the player: {exc.strerror}") from exc
        stdin = process.stdin
        assert stdin is not None

        async def write(pcm: bytes) -> None:
            if process.returncode is not None:
                raise SoundDeviceError(await self._exit_reason(process))
            stdin.write(pcm)
            try:
                await asyncio.wait_for(stdin.drain(), timeout=self.stall_timeout_s)
            except TimeoutError as exc:
                raise SoundDeviceError(
                    f"the player took no audio for {self.stall_timeout_s:g} s"
                ) from exc
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise SoundDeviceError(await self._exit_reason(process)) from exc

        try:
            report = await stream_session(
                parameters,
                clock,
                abort,
                sink=write,
                sample_rate_hz=self.sample_rate_hz,
                max_intensity=self.max_intensity,
                chunk_s=self.chunk_s,
                lead_s=self.lead_s,
            )
            stdin.close()
            # What is queued (at most the lead, plus the fade) plays out, then the player exits.
            drain_s = self.lead_s + ABORT_FADE_S + self.stall_timeout_s
            try:
                await asyncio.wait_for(process.wait(), timeout=drain_s)
            except TimeoutError as exc:
                raise SoundDeviceError(f"the player did not finish within {drain_s:g} s") from exc
            if process.returncode != 0:
                raise SoundDeviceError(await self._exit_reason(process))
            return report
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    async def _exit_reason(self, process: asyncio.subprocess.Process) -> str:
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=1.0)
        detail = b""
        if process.stderr is not None:
            with contextlib.suppress(TimeoutError):
                detail = await asyncio.wait_for(process.stderr.read(2000), timeout=1.0)
        message = detail.decode(errors="replace").strip()
        return f"the player exited with status {process.returncode}: {message or 'no message'}"


def has_sound_card(cards_file: Path = ASOUND_CARDS) -> bool:
    try:
        text = cards_file.read_text()
    except OSError:
        return False
    return bool(text.strip()) and "no soundcards" not in text


def vibroacoustic_output(
    *,
    wav_directory: Path,
    alsa_device: str | None = None,
    player: str = "aplay",
    search_path: str | None = None,
    cards_file: Path = ASOUND_CARDS,
    keep_wav: bool = False,
    sample_rate_hz: int = 8000,
    max_intensity: float = 1.0,
) -> OutputDevice:
    """The sound device when there is one, else the WAV device in ``wav_directory``.

    "There is one" means ``player`` is on ``search_path`` (default ``$PATH``) and either
    ``alsa_device`` is named (then it is trusted, e.g. ``null`` or ``hw:1,0``) or Linux lists a
    sound card. ``keep_wav`` also writes every played session to a WAV file (both devices get
    the same session through :class:`FanOutDevice`).
    """
    wav = WavVibroacousticDevice(
        wav_directory, sample_rate_hz=sample_rate_hz, max_intensity=max_intensity
    )
    found = shutil.which(player, path=search_path)
    if found is None:
        log.info("no %s on the path: vibroacoustic sessions go to WAV files", player)
        return wav
    if alsa_device is None and not has_sound_card(cards_file):
        log.info("no sound card: vibroacoustic sessions go to WAV files")
        return wav
    sound = AplayVibroacousticDevice(
        Path(found),
        alsa_device=alsa_device,
        sample_rate_hz=sample_rate_hz,
        max_intensity=max_intensity,
    )
    return FanOutDevice([sound, wav]) if keep_wav else sound
