"""``[[outputs]]`` and ``[[controls]]``: refused at load when unusable (naming entry and key), and
each kind, alone or together, driving its real device from the configuration."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from hardware.audio import FULL_SCALE, WavVibroacousticDevice
from hardware.audio_aplay import AplayVibroacousticDevice
from hardware.clock import WallClock
from hardware.devices import FanOutDevice, SessionReport, SimulatedDevice
from hardware.led import LedPacer
from ingest.transport.targets import BleBackend
from stream.events import SessionParameters
from tests.hardware.test_interlock import FakeClock
from vagus.config import ConfigError, LiveSettings, VagusConfig, load_config
from vagus.config_outputs import BleHapticOutput, LedOutput, SimulatedOutput, VibroacousticOutput
from vagus.outputs import build_outputs, warn_without_outputs

LSB = 1 / FULL_SCALE


def _load(tmp_path: Path, text: str) -> VagusConfig:
    path = tmp_path / "vagus.toml"
    path.write_text(text)
    return load_config(path)


def _wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        frames = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples: np.ndarray = frames / FULL_SCALE
    return samples, rate


def test_every_kind_loads_from_toml(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        """
[[outputs]]
kind = "vibroacoustic"
label = "bass shaker"
alsa_device = "hw:1,0"
wav_dir = "/var/lib/vagus/sessions"
keep_wav = true
max_intensity = 0.6
sample_rate_hz = 16000

[[outputs]]
kind = "led"
pin = 18
max_intensity = 0.4

[[outputs]]
kind = "ble_haptic"
address = "A0:9E:1A:12:34:56"
profile = "vagus-haptic-v1"
label = "wrist band"

[[outputs]]
kind = "simulated"

[[controls]]
kind = "gpio_button"
pin = 17
hold_s = 1.5
""",
    )
    assert [o.kind for o in config.outputs] == ["vibroacoustic", "led", "ble_haptic", "simulated"]
    shaker = config.outputs[0]
    assert isinstance(shaker, VibroacousticOutput)
    assert (shaker.alsa_device, shaker.keep_wav, shaker.sample_rate_hz) == ("hw:1,0", True, 16000)
    assert [(c.kind, c.pin, c.hold_s, c.pull_up) for c in config.controls] == [
        ("gpio_button", 17, 1.5, True)
    ]


# (kind, the entry's other lines, the key the error must name)
BAD_VALUES = [
    ("vibroacoustic", "max_intensity = nan", "max_intensity"),
    ("vibroacoustic", "max_intensity = inf", "max_intensity"),
    ("vibroacoustic", "max_intensity = -0.5", "max_intensity"),
    ("vibroacoustic", "max_intensity = 1.2", "max_intensity"),
    ("vibroacoustic", "sample_rate_hz = 100", "sample_rate_hz"),
    ("vibroacoustic", "sample_rate_hz = -8000", "sample_rate_hz"),
    ("vibroacoustic", 'alsa_device = "hw:1,0 -v"', "alsa_device"),
    ("vibroacoustic", 'wav_dir = " "', "wav_dir"),
    ("led", "pin = 28", "pin must be within 0..27"),
    ("led", "pin = -1", "pin must be within 0..27"),
    ("led", "pin = 4\nmax_intensity = nan", "max_intensity"),
    ("led", "pin = 4\nmax_intensity = 0", "max_intensity"),
    ("ble_haptic", 'name_prefix = "B"\nprofile = "acme-buzz"', "profile 'acme-buzz'"),
    ("ble_haptic", 'address = "band-1"', "address"),
    ("ble_haptic", "", "address"),
    ("ble_haptic", 'address = "A0:9E:1A:12:34:56"\nname_prefix = "B"', "address"),
    ("ble_haptic", 'name_prefix = "B"\nmax_intensity = inf', "max_intensity"),
    ("ble_haptic", 'name_prefix = "B"\nlabel = "A0:9E:1A:12:34:56"', "label"),
]


@pytest.mark.parametrize(("kind", "lines", "key"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_the_entry_and_the_key(
    tmp_path: Path, kind: str, lines: str, key: str
) -> None:
    text = f'[[outputs]]\nkind = "simulated"\n[[outputs]]\nkind = "{kind}"\n{lines}\n'
    with pytest.raises(ConfigError, match=re.escape(f"outputs[1] ({kind}): {key}")) as caught:
        _load(tmp_path, text)
    assert str(tmp_path / "vagus.toml") in str(caught.value)


# What msgspec refuses itself (types, unknown kinds and keys) names the entry and key as a path.
BAD_SHAPES = [
    ('kind = "vibroacoustic"\nsample_rate_hz = inf', "`$.outputs[0].sample_rate_hz`"),
    ('kind = "led"\npin = 4.5', "`$.outputs[0].pin`"),
    ('kind = "led"', "missing required field `pin` - at `$.outputs[0]`"),
    ('kind = "subwoofer"', "Invalid value 'subwoofer' - at `$.outputs[0].kind`"),
    ('kind = "led"\npin = 4\ncolour = "blue"', "unknown field `colour` - at `$.outputs[0]`"),
]


@pytest.mark.parametrize(("entry", "fragment"), BAD_SHAPES)
def test_a_bad_shape_is_refused_naming_the_entry_and_the_key(
    tmp_path: Path, entry: str, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        _load(tmp_path, f"[[outputs]]\n{entry}\n")


BUTTON = '[[controls]]\nkind = "gpio_button"\n'
BAND = '[[outputs]]\nkind = "ble_haptic"\n'


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (BUTTON + "pin = 40\n", "controls[0] (gpio_button): pin"),
        (BUTTON + "pin = 4\nhold_s = nan\n", "controls[0] (gpio_button): hold_s"),
        (BUTTON + "pin = 4\nhold_s = inf\n", "controls[0] (gpio_button): hold_s"),
        (BUTTON + "pin = 4\nhold_s = -1\n", "controls[0] (gpio_button): hold_s"),
        ('[[controls]]\nkind = "gpio_switch"\npin = 4\n', "`$.controls[0].kind`"),
        (BUTTON + "pin = 4\ndebounce = 1\n", "unknown field `debounce` - at `$.controls[0]`"),
        (
            '[[outputs]]\nkind = "led"\npin = 17\n' + BUTTON + "pin = 17\n",
            "controls[0] (gpio_button): pin 17 is already used by outputs[0]",
        ),
        (
            BAND + 'address = "A0:9E:1A:12:34:56"\n' + BAND + 'address = "a0-9e-1a-12-34-56"\n',
            "outputs[1] (ble_haptic): address is the same band as outputs[0]",
        ),
    ],
)
def test_bad_controls_and_clashes_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        _load(tmp_path, text)


def test_no_outputs_means_the_simulated_pacer_and_a_warning_on_real_bluetooth(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = VagusConfig()
    assert isinstance(build_outputs(config).device, SimulatedDevice)
    with caplog.at_level(logging.WARNING, logger="vagus.outputs"):
        assert not warn_without_outputs(config, real_bluetooth=False)
        assert caplog.records == []
        assert warn_without_outputs(config, real_bluetooth=True)
        configured = VagusConfig(outputs=[SimulatedOutput()])
        assert not warn_without_outputs(configured, real_bluetooth=True)
    assert [r.getMessage() for r in caplog.records] == [
        "no [[outputs]] configured: sessions run on the simulated pacer and the patient will "
        "feel nothing (docs/configuration.md, Outputs)"
    ]


@pytest.mark.skipif(
    shutil.which("aplay") is None, reason="ALSA's aplay (Debian alsa-utils) is not installed"
)
async def test_the_vibroacoustic_output_plays_through_the_real_aplay_on_alsa_null() -> None:
    config = VagusConfig(outputs=[VibroacousticOutput(alsa_device="null", max_intensity=0.5)])
    device = build_outputs(config).device
    assert isinstance(device, AplayVibroacousticDevice)
    assert device.command()[-2:] == ["-D", "null"]
    report = await device.render(SessionParameters(duration_s=3.0), WallClock(), asyncio.Event())
    assert report.completed and report.ran_s == pytest.approx(3.0)


async def test_the_vibroacoustic_output_writes_capped_session_wavs(tmp_path: Path) -> None:
    # alsa_device "null" with keep_wav: played on ALSA's null device where aplay exists, and
    # written to wav_dir either way (only to wav_dir where it does not).
    settings = VibroacousticOutput(
        alsa_device="null", wav_dir=str(tmp_path / "wav"), keep_wav=True, max_intensity=0.5
    )
    device = build_outputs(VagusConfig(outputs=[settings])).device
    if shutil.which("aplay") is None:
        assert isinstance(device, WavVibroacousticDevice)
    else:
        assert isinstance(device, FanOutDevice)
    parameters = SessionParameters(duration_s=30.0, breaths_per_min=6.0, intensity=0.9)
    report = await device.render(parameters, FakeClock(), asyncio.Event())
    assert report.completed and report.breaths == 3
    signal, rate = _wav(tmp_path / "wav" / "session-1.wav")
    assert rate == 8000 and len(signal) == 30 * rate
    peak = float(np.max(np.abs(signal)))
    assert 0.45 < peak <= 0.5 + LSB  # the output's own cap beats the command's 0.9
    assert np.max(np.abs(signal[:80])) < 0.01 and np.max(np.abs(signal[-80:])) < 0.01


class PinRecordingClock(FakeClock):
    """Records the LED's brightness each time a device waits."""

    def __init__(self, factory: MockFactory, pin: int) -> None:
        super().__init__()
        self.factory, self.pin = factory, pin
        self.samples: list[tuple[float, float]] = []

    async def sleep_until(self, time_ns: int) -> None:
        self.samples.append((self.now / 1e9, float(self.factory.pin(self.pin).state)))
        await super().sleep_until(time_ns)


async def test_the_led_output_follows_the_cue_on_mock_pwm_pins() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    config = VagusConfig(outputs=[LedOutput(pin=12, max_intensity=0.4, label="bedside lamp")])
    device = build_outputs(config, pin_factory=factory).device
    assert isinstance(device, LedPacer) and device.pin == 12
    clock = PinRecordingClock(factory, 12)
    parameters = SessionParameters(duration_s=60.0, breaths_per_min=6.0, intensity=0.9)
    report = await device.render(parameters, clock, asyncio.Event())
    assert report.completed and report.breaths == 6
    levels = dict(clock.samples)
    assert max(levels.values()) == pytest.approx(0.4, abs=1e-6)  # reaches its cap, never above
    assert levels[24.0] == pytest.approx(0.4, abs=1e-6)  # end of an inhale, past the fade-in
    assert levels[30.0] == pytest.approx(0.0, abs=1e-6)  # start of the next breath
    assert factory.pin(12).state == 0.0


async def test_several_outputs_run_one_session_together(tmp_path: Path) -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    config = VagusConfig(
        outputs=[
            # ALSA's null device where aplay exists, and the WAV file in every case.
            VibroacousticOutput(
                alsa_device="null", wav_dir=str(tmp_path / "wav"), keep_wav=True, max_intensity=0.5
            ),
            LedOutput(pin=13, max_intensity=0.3),
            SimulatedOutput(),
        ],
        live=LiveSettings(state_dir=str(tmp_path / "state")),
    )
    outputs = build_outputs(config, pin_factory=factory)
    assert isinstance(outputs.device, FanOutDevice) and len(outputs.device.devices) == 3
    assert [o.title for o in outputs.built] == [
        "outputs[0] vibroacoustic",
        "outputs[1] led",
        "outputs[2] simulated",
    ]
    brightness: list[float] = []

    class Watching(FakeClock):
        async def sleep_until(self, time_ns: int) -> None:
            brightness.append(float(factory.pin(13).state))
            await super().sleep_until(time_ns)

    parameters = SessionParameters(duration_s=40.0, intensity=0.6)
    report: SessionReport = await outputs.device.render(parameters, Watching(), asyncio.Event())
    assert report.completed and report.ran_s == pytest.approx(40.0)
    signal, rate = _wav(tmp_path / "wav" / "session-1.wav")
    assert len(signal) == 40 * rate and 0.45 < float(np.max(np.abs(signal))) <= 0.5 + LSB
    assert 0.25 < max(brightness) <= 0.3 + 1e-9 and factory.pin(13).state == 0.0
    simulated = outputs.device.devices[2]
    assert isinstance(simulated, SimulatedDevice) and len(simulated.phases) == 8  # 4 breaths


async def test_when_one_output_fails_the_others_stop_with_it(tmp_path: Path) -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    config = VagusConfig(
        outputs=[LedOutput(pin=19), BleHapticOutput(name_prefix="vBand")],
        live=LiveSettings(state_dir=str(tmp_path)),
    )
    # The band is never connected (its connection is not even started): its render fails.
    outputs = build_outputs(config, ble=BleBackend(), secret=bytes(32), pin_factory=factory)
    abort = asyncio.Event()
    try:
        with pytest.raises(RuntimeError, match="not connected"):
            await outputs.device.render(SessionParameters(duration_s=60.0), WallClock(), abort)
        await asyncio.sleep(0.5)
        assert factory.pin(19).state == 0.0, "the light still paces a session that failed"
    finally:
        abort.set()  # end the orphaned rendering either way
        await asyncio.sleep(0.1)
