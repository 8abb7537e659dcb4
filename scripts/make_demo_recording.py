"""Generate the bundled demo recording: a SIMULATED 33.5-minute session, reproducibly.

Nothing in this file is a real person's data. A chest strap (Polar PMD ECG at 130 Hz and ACC at
25 Hz, plus Heart Rate Measurement notifications with RR intervals), an EDA sensor (vagus's
open sample-stream profile at 8 Hz) and a wrist accelerometer (vagus's open motion profile at
32 Hz: the stress model's motion input is the wrist's, as in its training data) are simulated
through three phases:

    baseline  0-20.5 min    HR ~66 bpm, strong respiratory sinus arrhythmia, few SCRs
    stress    20.5-25.5 min HR ~92 bpm, little HRV, many SCRs, skin conductance up, fidgeting
    recovery  25.5-33.5 min HR ~69 bpm, HRV, SCR rate and skin conductance returning to baseline

The baseline is longer than the gateway's 20-minute calibration period (the stress model was
evaluated with WESAD's ~20-minute baseline as calibration), so the demo scores with the model.
Heart rate, RSA depth and skin-conductance level also wander slowly (minutes), as at rest they
do: a perfectly stationary baseline would make every later change look like tens of SDs.

The ECG is synthesised beat by beat from a known RR series (a sum-of-Gaussians PQRST shape,
as in ECGSYN's morphology), so the true beat times are known; skin conductance comes from
NeuroKit2's ``eda_simulate``. Device clocks are given an offset and a 30 ppm drift, and every
notification an arrival latency, so clock alignment has real work to do.

Run:  .venv/bin/python scripts/make_demo_recording.py [-o vagus/data/demo-session.vrec]
The same seed always writes the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.devices.polar_h10 import PolarH10Device
from ingest.devices.sample_stream import SampleStreamDevice
from ingest.notification import Notification
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, encode_heart_rate_measurement
from ingest.profiles.polar_pmd import (
    PMD_DATA_UUID,
    POLAR_EPOCH_UNIX_NS,
    encode_pmd_acc_frame,
    encode_pmd_ecg_frame,
)
from ingest.profiles.sample_stream import SampleStreamProfile, load_builtin
from ingest.recording import DeviceEntry, RecordingHeader, RecordingWriter
from stream.ids import pseudonymise_device, pseudonymise_patient

SEED = 20260310
DURATION_S = 2010.0
START = dt.datetime(2026, 3, 10, 14, 0, 0, tzinfo=dt.UTC)
PHASES = (("baseline", 0.0), ("stress", 1230.0), ("recovery", 1530.0))
ECG_FS = 130.0
ECG_FRAME = 73
ACC_FS = 25.0
ACC_FRAME = 25
EDA_PROFILE = "vagus-eda-v1"
WRIST_PROFILE = "vagus-motion-v1"
#: The wrist's own random stream, so adding it left every other device's samples as they were.
WRIST_SEED = (SEED, 1)
DEMO_SECRET = b"vagus-demo-not-a-secret"
PATIENT_ID = pseudonymise_patient("demo-patient", DEMO_SECRET)
STRAP_ID = pseudonymise_device("00:00:00:00:00:01", DEMO_SECRET)
EDA_ID = pseudonymise_device("00:00:00:00:00:02", DEMO_SECRET)
WRIST_ID = pseudonymise_device("00:00:00:00:00:03", DEMO_SECRET)


@dataclass(frozen=True)
class PhaseParameters:
    rr_ms: float
    rsa_ms: float
    lf_ms: float
    noise_ms: float
    breath_hz: float
    scr_per_min: float
    fidget: float
    scl_rise_us: float


PARAMETERS = {
    "baseline": PhaseParameters(909.0, 45.0, 25.0, 14.0, 0.25, 0.6, 0.0, 0.0),
    "stress": PhaseParameters(652.0, 9.0, 8.0, 5.0, 0.33, 5.0, 1.0, 1.5),
    "recovery": PhaseParameters(870.0, 40.0, 22.0, 12.0, 0.22, 1.0, 0.1, 0.3),
}
WANDER_TAU_S = 120.0  # slow (minutes) physiological wander at rest
RR_WANDER_MS = 22.0
RSA_WANDER = 0.2  # relative
SCL_WANDER_US = 0.25


def slow_wander(rng: np.random.Generator, n: int, dt_s: float, sd: float) -> np.ndarray:
    """An Ornstein-Uhlenbeck series (time constant WANDER_TAU_S) with stationary SD ``sd``."""
    decay = np.exp(-dt_s / WANDER_TAU_S)
    shocks = rng.normal(0.0, sd * np.sqrt(1.0 - decay**2), n)
    out = np.empty(n)
    level = 0.0
    for i in range(n):
        level = decay * level + shocks[i]
        out[i] = level
    return out


def phase_weights(t: np.ndarray) -> dict[str, np.ndarray]:
    """Smooth (45 s sigmoid) membership of each phase at times ``t``, summing to one."""
    edges = [start for _, start in PHASES[1:]]
    steps = [1.0 / (1.0 + np.exp(-(t - edge) / 12.0)) for edge in edges]
    return {
        "baseline": 1.0 - steps[0],
        "stress": steps[0] - steps[1],
        "recovery": steps[1],
    }


def blend(t: np.ndarray, name: str) -> np.ndarray:
    weights = phase_weights(t)
    return sum(
        (weights[phase] * getattr(PARAMETERS[phase], name) for phase in weights),
        start=np.zeros_like(t),
    )


def beat_times(rng: np.random.Generator) -> np.ndarray:
    """R-peak times (s) from a physiological RR model: mean + RSA + Mayer wave + AR(1) noise."""
    times = [0.6]
    noise = 0.0
    seconds = int(DURATION_S) + 4
    rr_wander = slow_wander(rng, seconds, 1.0, RR_WANDER_MS)
    rsa_wander = slow_wander(rng, seconds, 1.0, RSA_WANDER)
    respiration_phase = 0.0
    last = 0.6
    while last < DURATION_S + 2.0:
        t = np.array([last])
        respiration_phase += (
            2
            * np.pi
            * float(blend(t, "breath_hz")[0])
            * ((times[-1] - times[-2]) if len(times) > 1 else 0.9)
        )
        noise = 0.6 * noise + float(rng.normal(0.0, blend(t, "noise_ms")[0]))
        second = int(last)
        rr_ms = (
            blend(t, "rr_ms")[0]
            + rr_wander[second]
            + blend(t, "rsa_ms")[0] * (1.0 + rsa_wander[second]) * np.sin(respiration_phase)
            + blend(t, "lf_ms")[0] * np.sin(2 * np.pi * 0.1 * last)
            + noise
        )
        last = last + float(rr_ms) / 1000.0
        times.append(last)
    return np.asarray(times)


_WAVES = (  # (offset s at RR=1 s, amplitude mV, width s, scales with RR)
    (-0.20, 0.12, 0.025, True),
    (-0.035, -0.10, 0.010, False),
    (0.0, 1.15, 0.011, False),
    (0.035, -0.25, 0.011, False),
    (0.28, 0.30, 0.050, True),
)


def synthesise_ecg(beats_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ECG in µV at 130 Hz: PQRST Gaussians per beat, breathing wander, noise, fidget EMG."""
    n = int(DURATION_S * ECG_FS)
    t = np.arange(n) / ECG_FS
    ecg = np.zeros(n)
    rr = np.diff(beats_s, prepend=beats_s[0] - 0.9)
    for beat, interval in zip(beats_s, rr, strict=True):
        scale = np.sqrt(np.clip(interval, 0.4, 1.5))
        lo = max(0, int((beat - 0.45) * ECG_FS))
        hi = min(n, int((beat + 0.6) * ECG_FS) + 1)
        if lo >= hi:
            continue
        segment = t[lo:hi]
        for offset, amplitude, width, scaled in _WAVES:
            centre = beat + (offset * scale if scaled else offset)
            ecg[lo:hi] += amplitude * np.exp(-0.5 * ((segment - centre) / width) ** 2)
    breathing = 0.06 * np.sin(2 * np.pi * np.cumsum(blend(t, "breath_hz")) / ECG_FS)
    wander = 0.08 * np.sin(2 * np.pi * 0.03 * t + 1.0)
    emg = rng.normal(0.0, 1.0, n) * 0.05 * blend(t, "fidget")
    ecg += breathing + wander + emg + rng.normal(0.0, 0.015, n)
    return np.round(ecg * 1000.0).astype(np.int32)


def synthesise_acc(rng: np.random.Generator) -> np.ndarray:
    """Chest accelerometer in mG: upright posture, breathing sway, fidget bursts under stress."""
    n = int(DURATION_S * ACC_FS)
    t = np.arange(n) / ACC_FS
    gravity = np.array([30.0, -985.0, 160.0])
    acc = np.tile(gravity, (n, 1))
    acc[:, 2] += 12.0 * np.sin(2 * np.pi * np.cumsum(blend(t, "breath_hz")) / ACC_FS)
    bursts = (rng.random(n) < 0.004 * blend(t, "fidget")).astype(float)
    envelope = np.convolve(bursts, np.hanning(int(2 * ACC_FS)), mode="same")
    acc += rng.normal(0.0, 1.0, (n, 3)) * (6.0 + 180.0 * envelope[:, None])
    return np.round(acc).astype(np.int32)


def synthesise_wrist_acc(rng: np.random.Generator, fs: float) -> np.ndarray:
    """Wrist accelerometer in mG: forearm resting, the odd gesture at rest, fidgeting under stress.

    A resting wrist is not still: a hand shifts or scratches a few times a minute, so the
    calibration holds some movement, and a fidget swings the wrist further than the chest."""
    n = int(DURATION_S * fs)
    t = np.arange(n) / fs
    gravity = np.array([-120.0, 240.0, 960.0])
    acc = np.tile(gravity, (n, 1))
    rate_per_s = 0.05 + 0.15 * blend(t, "fidget")  # gestures a second
    bursts = (rng.random(n) < rate_per_s / fs).astype(float)
    envelope = np.convolve(bursts, np.hanning(int(1.5 * fs)), mode="same")
    acc += rng.normal(0.0, 1.0, (n, 3)) * (4.0 + 250.0 * envelope[:, None])
    return np.round(acc).astype(np.int32)


def scl_wander(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Slow skin-conductance drift: three sines of 4-10 min periods, random phases.

    Smooth on purpose: its steepest slope (~0.005 µS/s) stays under the 0.01 µS/s at which the
    SCR detector sees the start of a response, so the drift is never counted as responses.
    """
    periods = rng.uniform(240.0, 600.0, 3)
    phases = rng.uniform(0.0, 2 * np.pi, 3)
    waves = np.sin(2 * np.pi * t[:, None] / periods + phases)
    drift: np.ndarray = SCL_WANDER_US * waves.sum(axis=1) / np.sqrt(1.5)
    return drift


def synthesise_eda(rng: np.random.Generator, profile: SampleStreamProfile) -> np.ndarray:
    """Skin conductance in µS from NeuroKit2, with phase-dependent SCR counts."""
    import neurokit2 as nk  # noqa: PLC0415 - simulation-only dependency

    fs = int(profile.rate_hz)
    pieces = []
    bounds = [start for _, start in PHASES] + [DURATION_S]
    level = 2.0
    for (name, start), end in zip(PHASES, bounds[1:], strict=True):
        duration = end - start
        count = max(1, round(PARAMETERS[name].scr_per_min * duration / 60.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            piece = nk.eda_simulate(
                duration=int(duration),
                sampling_rate=fs,
                scr_number=count,
                noise=0.005,
                drift=-0.0005,
                random_state=int(rng.integers(0, 2**31 - 1)),
            )
        values: np.ndarray = np.asarray(piece, dtype=float)
        values += level - values[0]
        level = float(values[-1])
        pieces.append(values)
    eda = np.concatenate(pieces)
    t = np.arange(eda.size) / fs
    eda += blend(t, "scl_rise_us") + scl_wander(rng, t)
    clipped: np.ndarray = np.clip(eda, 0.05, 60.0)
    return clipped


class DeviceClock:
    """A device clock with an offset and a drift against the gateway's."""

    def __init__(self, offset_s: float, drift_ppm: float) -> None:
        self.offset_ns = int(offset_s * 1e9)
        self.drift = drift_ppm * 1e-6

    def device_ns(self, true_s: float) -> int:
        return int(true_s * (1.0 + self.drift) * 1e9) + self.offset_ns


def frame_notifications(
    device_id: str,
    profile: SampleStreamProfile,
    raw: np.ndarray,
    clock: DeviceClock,
    arrival: Callable[[float], int],
) -> list[Notification]:
    """One-second frames of a sample-stream sensor (``raw``: samples x channels, unscaled),
    stamped with the device's millisecond counter at each frame's first sample."""
    per_frame = int(profile.rate_hz)
    out = []
    for first in range(0, len(raw) - per_frame + 1, per_frame):
        device_ms = (clock.device_ns(first / profile.rate_hz) // 1_000_000) % 2**32
        payload = profile.encode(raw[first : first + per_frame], device_ms * 1_000_000)
        last_s = (first + per_frame - 1) / profile.rate_hz
        out.append(Notification(device_id, profile.characteristic, arrival(last_s), payload))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("vagus/data/demo-session.vrec"))
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    start_ns = int(START.timestamp() * 1e9)
    eda_profile = load_builtin(EDA_PROFILE)
    beats = beat_times(rng)
    ecg_uv = synthesise_ecg(beats, rng)
    acc_mg = synthesise_acc(rng)
    eda_us = synthesise_eda(rng, eda_profile)

    notifications: list[Notification] = []

    def arrival(true_s: float) -> int:
        return start_ns + int((true_s + rng.uniform(0.008, 0.045)) * 1e9)

    strap_clock = DeviceClock(offset_s=0.35, drift_ppm=30.0)
    polar_start_ns = start_ns - POLAR_EPOCH_UNIX_NS
    for first in range(0, len(ecg_uv) - ECG_FRAME + 1, ECG_FRAME):
        last_s = (first + ECG_FRAME - 1) / ECG_FS
        stamp = polar_start_ns + strap_clock.device_ns(last_s)
        payload = encode_pmd_ecg_frame(stamp, ecg_uv[first : first + ECG_FRAME])
        notifications.append(Notification(STRAP_ID, PMD_DATA_UUID, arrival(last_s), payload))
    for first in range(0, len(acc_mg) - ACC_FRAME + 1, ACC_FRAME):
        last_s = (first + ACC_FRAME - 1) / ACC_FS
        stamp = polar_start_ns + strap_clock.device_ns(last_s)
        payload = encode_pmd_acc_frame(stamp, acc_mg[first : first + ACC_FRAME])
        notifications.append(Notification(STRAP_ID, PMD_DATA_UUID, arrival(last_s), payload))
    for second in range(1, int(DURATION_S) + 1):
        in_second = beats[(beats > second - 1) & (beats <= second)]
        previous = beats[beats <= second]
        rr_s = np.diff(previous)[-len(in_second) :] if len(in_second) else np.array([])
        recent = np.diff(previous[-4:])
        bpm = round(60.0 / float(np.mean(recent))) if len(recent) else 0
        payload = encode_heart_rate_measurement(
            bpm,
            rr_intervals_1024=tuple(round(r * 1024) for r in rr_s),
            sensor_contact=True,
        )
        notifications.append(
            Notification(STRAP_ID, HEART_RATE_MEASUREMENT_UUID, arrival(second), payload)
        )
    eda_raw = np.round((eda_us - eda_profile.offset) / eda_profile.scale).astype(np.int64)
    eda_clock = DeviceClock(offset_s=-3600.0 * 5, drift_ppm=-20.0)
    notifications += frame_notifications(EDA_ID, eda_profile, eda_raw[:, None], eda_clock, arrival)

    wrist_profile = load_builtin(WRIST_PROFILE)
    wrist_mg = synthesise_wrist_acc(np.random.default_rng(WRIST_SEED), wrist_profile.rate_hz)
    wrist_clock = DeviceClock(offset_s=-3600.0 * 2, drift_ppm=15.0)
    notifications += frame_notifications(WRIST_ID, wrist_profile, wrist_mg, wrist_clock, arrival)

    notifications.sort(key=lambda n: (n.gateway_time_ns, n.device_id, n.characteristic))
    header = RecordingHeader(
        patient_id=PATIENT_ID,
        start_time_ns=start_ns,
        devices=[
            DeviceEntry(device_id=STRAP_ID, profile=PolarH10Device.name, label="chest strap"),
            DeviceEntry(
                device_id=EDA_ID, profile=SampleStreamDevice(eda_profile).name, label="EDA"
            ),
            DeviceEntry(
                device_id=WRIST_ID,
                profile=SampleStreamDevice(wrist_profile).name,
                label="wrist motion",
            ),
        ],
        producer="scripts/make_demo_recording.py",
        simulated=True,
        notes=f"SIMULATED demo session, seed {SEED}; phases {PHASES}",
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    markers = [(start_ns + int(at * 1e9), f"phase:{name}") for name, at in PHASES]
    with RecordingWriter(
        args.output, header, flush_interval_s=float("inf"), fsync=False, overwrite=True
    ) as writer:
        pending_markers = list(markers)
        for notification in notifications:
            while pending_markers and pending_markers[0][0] <= notification.gateway_time_ns:
                writer.write_marker(*pending_markers.pop(0))
            writer.write_notification(notification)
        writer.close(gateway_time_ns=start_ns + int(DURATION_S * 1e9))
    print(
        f"wrote {args.output}: {len(notifications)} notifications, {len(beats)} beats,"
        f" {args.output.stat().st_size} bytes"
    )


if __name__ == "__main__":
    main()
