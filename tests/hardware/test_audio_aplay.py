"""The sound-device driver against a fake ``aplay`` (a script that records what it is sent), the
fallback to WAV files, and, where Debian's alsa-utils is installed, the real aplay on ALSA null."""

from __future__ import annotations

import asyncio
import shutil
import stat
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from hardware.audio import ABORT_FADE_S, FULL_SCALE, WavVibroacousticDevice
from hardware.audio_aplay import (
    AplayVibroacousticDevice,
    SoundDeviceError,
    has_sound_card,
    vibroacoustic_output,
)
from hardware.clock import WallClock
from hardware.devices import FanOutDevice
from hardware.limits import DeviceLimits, Interlock
from hardware.runner import SessionRunner
from hardware.waveforms import BreathingPattern, vibroacoustic
from stream.events import InterventionOutcome, SessionParameters
from tests.hardware.test_interlock import FakeClock, command

RATE = 8000

FAKE_APLAY = """#!{python}
import os, sys, time
from pathlib import Path
record = Path({record!r})
(record.parent / "args").write_text("\\n".join(sys.argv[1:]))
(record.parent / "pid").write_text(str(os.getpid()))
mode = {mode!r}
if mode == "fail":
    sys.stderr.write("aplay: main:831: audio open error: no soundcards found\\n")
    sys.exit(1)
if mode == "stall":
    time.sleep(600)
with open(record, "wb") as sink:
    while data := sys.stdin.buffer.read1(65536):
        sink.write(data)
        sink.flush()
"""


def fake_aplay(directory: Path, mode: str = "record") -> Path:
    """An executable named aplay in ``directory`` that records its stdin to ``received.pcm``."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "aplay"
    script.write_text(
        FAKE_APLAY.format(python=sys.executable, record=str(directory / "received.pcm"), mode=mode)
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _player_gone(directory: Path) -> bool:
    """The fake player's process no longer exists (killed or exited, and reaped)."""
    pid = int((directory / "pid").read_text())
    return not Path(f"/proc/{pid}").exists()


def _pcm(data: bytes) -> np.ndarray:
    samples: np.ndarray = np.frombuffer(data, dtype="<i2").astype(np.int32)
    return samples


async def test_the_player_receives_exactly_the_rendered_session(tmp_path: Path) -> None:
    player = fake_aplay(tmp_path / "bin")
    device = AplayVibroacousticDevice(player, sample_rate_hz=RATE, max_intensity=0.6)
    parameters = SessionParameters(
        duration_s=30.0, breaths_per_min=5.5, inhale_fraction=0.4, intensity=0.9
    )
    report = await device.render(parameters, FakeClock(), asyncio.Event())
    assert report.completed and report.ran_s == pytest.approx(30.0)
    assert report.breaths == int(30.0 // (60 / 5.5))
    args = (tmp_path / "bin" / "args").read_text().split("\n")
    assert args == ["-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(RATE)]
    received = _pcm((tmp_path / "bin" / "received.pcm").read_bytes())
    # An independent rendering of the whole session at once, capped by the device's 0.6.
    expected = vibroacoustic(
        BreathingPattern(5.5, 0.4),
        start_s=0.0,
        count=30 * RATE,
        sample_rate_hz=RATE,
        duration_s=30.0,
        intensity=0.6,
    )
    assert len(received) == len(expected)
    assert np.max(np.abs(received - np.round(expected * FULL_SCALE))) <= 1  # rounding only
    # And byte for byte what the WAV device writes for the same session.
    wav = WavVibroacousticDevice(tmp_path / "wav", sample_rate_hz=RATE, max_intensity=0.6)
    await wav.render(parameters, FakeClock(), asyncio.Event())
    with wave.open(str(wav.written[0]), "rb") as source:
        assert (
            source.readframes(source.getnframes())
            == (tmp_path / "bin" / "received.pcm").read_bytes()
        )


async def test_an_abort_stops_the_player_promptly_after_a_fade(tmp_path: Path) -> None:
    player = fake_aplay(tmp_path / "bin")
    device = AplayVibroacousticDevice(player, sample_rate_hz=RATE, lead_s=0.5, chunk_s=0.25)
    abort = asyncio.Event()
    parameters = SessionParameters(duration_s=600.0, intensity=0.5)
    session = asyncio.create_task(device.render(parameters, WallClock(), abort))
    await asyncio.sleep(1.5)
    abort.set()
    aborted_at = time.monotonic()
    report = await asyncio.wait_for(session, timeout=10)
    stopped_after_s = time.monotonic() - aborted_at
    print(f"aplay device: returned {stopped_after_s:.3f} s after the abort, ran {report.ran_s} s")
    assert not report.completed
    assert 1.0 <= report.ran_s <= 2.5  # aborted after 1.5 s; noticed within one chunk
    assert stopped_after_s < 1.0  # one chunk's wait, the fade written, the player exits
    received = _pcm((tmp_path / "bin" / "received.pcm").read_bytes())
    fade = round(ABORT_FADE_S * RATE)
    session_part = len(received) - fade
    # What ran ahead of the clock is bounded by the lead plus one chunk.
    assert session_part / RATE <= report.ran_s + 0.5 + 0.25 + 1e-9
    assert np.sqrt(np.mean(received[-RATE // 10 :].astype(float) ** 2)) < 0.01 * FULL_SCALE
    assert _player_gone(tmp_path / "bin")


async def test_a_player_that_stops_taking_audio_fails_and_is_killed(tmp_path: Path) -> None:
    player = fake_aplay(tmp_path / "bin", mode="stall")
    device = AplayVibroacousticDevice(player, sample_rate_hz=RATE, stall_timeout_s=0.5)
    with pytest.raises(SoundDeviceError, match=r"took no audio for 0\.5 s"):
        await device.render(SessionParameters(duration_s=600.0), FakeClock(), asyncio.Event())
    assert _player_gone(tmp_path / "bin")


async def test_a_player_error_becomes_a_failed_outcome_with_its_message(tmp_path: Path) -> None:
    outcomes: list[InterventionOutcome] = []

    async def emit(outcome: InterventionOutcome) -> None:
        outcomes.append(outcome)

    runner = SessionRunner(
        device=AplayVibroacousticDevice(fake_aplay(tmp_path / "bin", mode="fail")),
        interlock=Interlock(DeviceLimits(quiet_hours=None)),
        clock=FakeClock(),
        emit=emit,
        producer_id="t",
    )
    await runner.handle(command(0, duration_s=60))
    await runner.wait_idle()
    assert [o.status for o in outcomes] == ["requested", "started", "failed"]
    assert "no soundcards found" in outcomes[2].detail


async def test_a_player_that_vanished_since_construction_is_a_clear_error(tmp_path: Path) -> None:
    device = AplayVibroacousticDevice(tmp_path / "gone" / "aplay")
    with pytest.raises(SoundDeviceError, match="cannot start the player: No such file"):
        await device.render(SessionParameters(duration_s=60.0), FakeClock(), asyncio.Event())


def test_without_a_player_or_a_sound_card_sessions_go_to_wav_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    chosen = vibroacoustic_output(wav_directory=tmp_path / "wav", search_path=str(empty))
    assert isinstance(chosen, WavVibroacousticDevice)
    player = fake_aplay(tmp_path / "bin")
    path = str(player.parent)
    no_cards = tmp_path / "cards-none"
    no_cards.write_text("--- no soundcards ---\n")
    one_card = tmp_path / "cards-one"
    one_card.write_text(" 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n")
    assert not has_sound_card(no_cards) and not has_sound_card(tmp_path / "missing")
    assert has_sound_card(one_card)
    wav_dir = tmp_path / "wav"
    no_card = vibroacoustic_output(wav_directory=wav_dir, search_path=path, cards_file=no_cards)
    assert isinstance(no_card, WavVibroacousticDevice)
    sound = vibroacoustic_output(wav_directory=wav_dir, search_path=path, cards_file=one_card)
    assert isinstance(sound, AplayVibroacousticDevice) and sound.player == player
    named = vibroacoustic_output(
        wav_directory=wav_dir, search_path=path, cards_file=no_cards, alsa_device="null"
    )
    assert isinstance(named, AplayVibroacousticDevice) and named.command()[-2:] == ["-D", "null"]
    both = vibroacoustic_output(
        wav_directory=wav_dir, search_path=path, cards_file=one_card, keep_wav=True
    )
    assert isinstance(both, FanOutDevice)
    assert [type(d) for d in both.devices] == [AplayVibroacousticDevice, WavVibroacousticDevice]


@pytest.mark.skipif(
    shutil.which("aplay") is None, reason="ALSA's aplay (Debian alsa-utils) is not installed"
)
async def test_the_real_aplay_plays_a_session_on_the_alsa_null_device() -> None:
    aplay = shutil.which("aplay")
    assert aplay is not None
    device = AplayVibroacousticDevice(Path(aplay), alsa_device="null", sample_rate_hz=RATE)
    report = await device.render(SessionParameters(duration_s=3.0), WallClock(), asyncio.Event())
    assert report.completed and report.ran_s == pytest.approx(3.0)
