"""`vagus outputs test` through the real command line: one WAV per output with ``--wav``, the
virtual band over the real bleak client, exit 1 naming an output that could not play, exit 2
for a configuration error; never an address in what it prints."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest

from hardware.audio import FULL_SCALE
from tests.helpers import run_vagus

ADDRESS = re.compile(r"(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}")
OUTPUTS = """
[[outputs]]
kind = "vibroacoustic"
label = "bass shaker"
alsa_device = "hw:7,0"
max_intensity = 0.6

[[outputs]]
kind = "led"
label = "bedside lamp"
pin = 18
max_intensity = 0.4

[[outputs]]
kind = "ble_haptic"
label = "wrist band"
address = "A0:9E:1A:12:34:56"
max_intensity = 0.7

[[outputs]]
kind = "simulated"
"""


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vagus.toml"
    path.write_text(f'[live]\nstate_dir = "{tmp_path / "state"}"\nscan_timeout_s = 2\n{text}')
    return path


def _wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        frames = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples: np.ndarray = frames / FULL_SCALE
    return samples, rate


def test_wav_renders_every_output_to_a_file_within_its_cap(tmp_path: Path) -> None:
    out = tmp_path / "cue"
    done = run_vagus("--config", str(_config(tmp_path, OUTPUTS)), "outputs", "test",
                     "--wav", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    ran = "ran 12.0 s, 2 breaths ->"
    assert lines == [
        f"outputs[0] vibroacoustic 'bass shaker': {ran} {out}/output-0-vibroacoustic.wav",
        f"outputs[1] led 'bedside lamp': {ran} {out}/output-1-led.wav",
        f"outputs[2] ble_haptic 'wrist band': {ran} {out}/output-2-ble_haptic.wav",
        f"outputs[3] simulated: {ran} {out}/output-3-simulated.wav",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "output-0-vibroacoustic.wav",
        "output-1-led.wav",
        "output-2-ble_haptic.wav",
        "output-3-simulated.wav",
    ]
    # Half the strictest cap: the output's own, or [device_limits] max_intensity (0.8).
    caps = {"vibroacoustic": 0.6, "led": 0.4, "ble_haptic": 0.7, "simulated": 0.8}
    for index, (kind, cap) in enumerate(caps.items()):
        signal, rate = _wav(out / f"output-{index}-{kind}.wav")
        assert rate == 8000 and len(signal) == 12 * rate, kind
        peak = float(np.max(np.abs(signal)))
        assert 0.25 * cap < peak <= 0.5 * cap + 1 / FULL_SCALE, (kind, peak)
        assert np.max(np.abs(signal[-200:])) < 0.02 * cap, f"{kind} fades out"
    assert not ADDRESS.search(done.stdout + done.stderr)


def test_without_outputs_it_says_only_the_simulated_pacer_runs(tmp_path: Path) -> None:
    done = run_vagus("--config", str(_config(tmp_path, "")), "outputs", "test",
                     "--wav", str(tmp_path / "cue"), "--seconds", "6")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("no [[outputs]] configured: only the simulated")
    signal, rate = _wav(tmp_path / "cue" / "output-0-simulated.wav")
    assert len(signal) == 6 * rate


def test_the_band_plays_and_a_missing_one_fails_naming_it(tmp_path: Path) -> None:
    pytest.importorskip("bumble", reason="the virtual band needs the optional bumble dependency")
    outputs = """
[[outputs]]
kind = "simulated"

[[outputs]]
kind = "ble_haptic"
label = "wrist band"
name_prefix = "vBand"

[[outputs]]
kind = "ble_haptic"
label = "spare band"
name_prefix = "Nowhere"
"""
    done = run_vagus("--config", str(_config(tmp_path, outputs)), "outputs", "test",
                     "--seconds", "2", "--backend", "virtual")  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stdout.strip().splitlines()
    # The simulated pacer counts the breath it began; the band counts whole breaths.
    assert lines[0] == "outputs[0] simulated: ran 2.0 s, 1 breath via simulated-pacer"
    assert re.fullmatch(
        r"outputs\[1\] ble_haptic 'wrist band': ran 2\.0 s, 0 breaths via "
        r"ble-haptic 'wrist band' d-[0-9a-z]{8}",
        lines[1],
    )
    assert lines[2].startswith("outputs[2] ble_haptic 'spare band': FAILED: HapticBandError:")
    assert "not found within 2 s" in lines[2]
    assert "1 of 3 outputs failed: outputs[2] ble_haptic 'spare band'" in done.stderr
    assert not ADDRESS.search(done.stdout + done.stderr)


def test_a_configuration_error_exits_2_naming_the_entry(tmp_path: Path) -> None:
    config = _config(tmp_path, '[[outputs]]\nkind = "led"\npin = 31\n')
    done = run_vagus("--config", str(config), "outputs", "test", "--wav", str(tmp_path / "cue"))
    assert done.returncode == 2
    assert "outputs[0] (led): pin must be within 0..27" in done.stderr
    assert not (tmp_path / "cue").exists()
