"""From notifications to timed samples: the stateful half of decoding.

Profiles (ingest.profiles) are pure byte codecs. A :class:`DeviceDecoder` adds what needs memory:
aligning a device clock to the gateway clock, unwrapping short counters, and reconstructing beat
times from RR intervals. Live BLE and replay both feed notifications here, so both produce the
same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from ingest.device_clock import (
    MAX_OFFSET_STEP_DOWN_NS,
    ClockAligner,
    CounterUnwrapper,
    DeviceClockGuard,
)
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, decode_heart_rate_measurement
from ingest.profiles.polar_pmd import (
    PMD_DATA_UUID,
    PmdAccFrame,
    PmdEcgFrame,
    decode_pmd_data,
    polar_to_unix_ns,
)
from ingest.profiles.sample_stream import SampleStreamProfile, load_builtin

#: Nominal rates of the Polar streams as the gateway configures them at connect.
POLAR_ECG_HZ = 130.0
POLAR_ACC_HZ = 25.0
_RR_REANCHOR_NS = 2_000_000_000


@dataclass(frozen=True, slots=True)
class SampleBlock:
    """Samples of one stream from one notification, stamped on the gateway's clock (ns)."""

    device_id: str
    stream: str
    times_ns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    unit: str
    rate_hz: float | None


class BeatTimeReconstructor:
    """Beat times from Heart Rate Measurement RR intervals, which carry no timestamps.

    The RR intervals are chained into a beat clock (their running sum), and that clock is aligned
    to arrival times exactly like a device clock (:class:`ClockAligner`): the smallest recent
    arrival delay wins, so the estimate converges on the true beat times and follows a strap whose
    crystal runs fast or slow instead of drifting away. When arrivals run more than two seconds
    ahead of the chain, beats were lost (out of range, a missed notification): the chain is
    re-anchored, never stretched. Times stay strictly increasing and never after their arrival.
    """

    def __init__(self, horizon: int = 60) -> None:
        self._horizon = horizon
        self._aligner = ClockAligner(horizon)
        self._chain_ns = 0
        self._offset_ns: int | None = None
        self._last_ns: int | None = None

    def beat_times(self, rr_ns: list[int], arrival_ns: int) -> list[int]:
        if not rr_ns:
            return []
        ends = []
        for interval in rr_ns:
            self._chain_ns += interval
            ends.append(self._chain_ns)
        delay = arrival_ns - ends[-1]
        if self._offset_ns is not None and delay - self._offset_ns > _RR_REANCHOR_NS:
            self._aligner = ClockAligner(self._horizon)
        self._offset_ns = self._aligner.offset_ns(ends[-1], arrival_ns)
        times = []
        for end in ends:
            time_ns = end + self._offset_ns
            if self._last_ns is not None:
                time_ns = max(time_ns, self._last_ns + 1)
            times.append(time_ns)
            self._last_ns = time_ns
        return times


def _block(
    device_id: str,
    stream: str,
    times: list[int] | npt.NDArray[np.int64],
    values: object,
    *,
    unit: str,
    rate_hz: float | None,
) -> SampleBlock:
    return SampleBlock(
        device_id=device_id,
        stream=stream,
        times_ns=np.asarray(times, dtype=np.int64),
        values=np.asarray(values, dtype=np.float64),
        unit=unit,
        rate_hz=rate_hz,
    )


class DeviceDecoder:
    """Decodes every notification of one device according to its profile name."""

    def __init__(
        self, device_id: str, profile: str, *, stream_profile: SampleStreamProfile | None = None
    ) -> None:
        """``stream_profile`` stands in for the built-in one (a recording's inline profile)."""
        self.device_id = device_id
        self.profile = profile
        self._aligner = ClockAligner(max_step_down_ns=MAX_OFFSET_STEP_DOWN_NS)
        self._guard = DeviceClockGuard()
        self._last_ns: dict[str, int] = {}
        self.clock_corrections = 0
        self._beats = BeatTimeReconstructor()
        self._stream_profile: SampleStreamProfile | None = None
        self._unwrapper: CounterUnwrapper | None = None
        if profile.startswith("sample-stream:"):
            self._stream_profile = stream_profile or load_builtin(
                profile.removeprefix("sample-stream:")
            )
            self._unwrapper = CounterUnwrapper(self._stream_profile.timestamp_period_ns())
        elif profile not in {"polar-h10", "heart-rate"}:
            raise DecodeError(f"unknown device profile {profile!r}")

    def decode(self, notification: Notification) -> list[SampleBlock]:
        """Samples in ``notification``; raises :class:`DecodeError` for bytes that do not fit.

        Per stream, sample times only ever increase (see :meth:`_monotonic`)."""
        return [self._monotonic(block) for block in self._decode(notification)]

    def _monotonic(self, block: SampleBlock) -> SampleBlock:
        """Keep a stream's times increasing across blocks.

        The aligner slews a falling offset, so this only acts when a device's own timestamps go
        backwards (a clock reset): the block is moved just after the previous sample, never
        earlier than it (``clock_corrections`` counts them).
        """
        if block.times_ns.size == 0:
            return block
        last = self._last_ns.get(block.stream)
        first = int(block.times_ns[0])
        if last is not None and first <= last:
            block = replace(block, times_ns=block.times_ns + (last + 1 - first))
            self.clock_corrections += 1
        self._last_ns[block.stream] = int(block.times_ns[-1])
        return block

    def _restart_timing(self) -> None:
        """The device clock really moved (set at connect, reset): old offsets no longer apply."""
        self._aligner = ClockAligner(max_step_down_ns=MAX_OFFSET_STEP_DOWN_NS)
        if self._stream_profile is not None:
            self._unwrapper = CounterUnwrapper(self._stream_profile.timestamp_period_ns())

    def _decode(self, notification: Notification) -> list[SampleBlock]:
        characteristic = notification.characteristic.lower()
        if self._stream_profile is not None:
            if characteristic != self._stream_profile.characteristic:
                raise DecodeError(f"{self.profile} has no characteristic {characteristic}")
            return [self._decode_stream(notification, self._stream_profile)]
        if characteristic == HEART_RATE_MEASUREMENT_UUID:
            return self._decode_heart_rate(notification)
        if characteristic == PMD_DATA_UUID and self.profile == "polar-h10":
            return [self._decode_pmd(notification)]
        raise DecodeError(f"{self.profile} has no characteristic {characteristic}")

    def _decode_heart_rate(self, notification: Notification) -> list[SampleBlock]:
        measurement = decode_heart_rate_measurement(notification.payload)
        arrival = notification.gateway_time_ns
        blocks = [
            _block(
                self.device_id,
                "hr",
                [arrival],
                [measurement.heart_rate_bpm],
                unit="bpm",
                rate_hz=None,
            )
        ]
        rr_ns = [round(v * 1e9 / 1024) for v in measurement.rr_intervals_1024]
        beats = self._beats.beat_times(rr_ns, arrival)
        if beats:
            rr_ms = [v / 1e6 for v in rr_ns]
            blocks.append(_block(self.device_id, "rr", beats, rr_ms, unit="ms", rate_hz=None))
        return blocks

    def _decode_pmd(self, notification: Notification) -> SampleBlock:
        frame = decode_pmd_data(notification.payload)
        device_ns = polar_to_unix_ns(frame.timestamp_ns)
        if self._guard.admit(device_ns, notification.gateway_time_ns):
            self._restart_timing()
        offset = self._aligner.offset_ns(device_ns, notification.gateway_time_ns)
        if isinstance(frame, PmdEcgFrame):
            return self._timed(frame.samples_uv, device_ns + offset, POLAR_ECG_HZ, "ecg", "uV")
        if isinstance(frame, PmdAccFrame):
            return self._timed(frame.samples_mg, device_ns + offset, POLAR_ACC_HZ, "acc", "mG")
        raise DecodeError(f"unsupported PMD frame {type(frame).__name__}")

    def _timed(
        self, samples: npt.NDArray[np.int32], last_ns: int, rate_hz: float, stream: str, unit: str
    ) -> SampleBlock:
        """Per-sample times for a frame stamped at its last sample (Polar's convention)."""
        count = len(samples)
        steps = np.arange(count - 1, -1, -1, dtype=np.int64)
        times = last_ns - (steps * 1e9 / rate_hz).astype(np.int64)
        return _block(self.device_id, stream, times, samples, unit=unit, rate_hz=rate_hz)

    def _decode_stream(
        self, notification: Notification, profile: SampleStreamProfile
    ) -> SampleBlock:
        frame = profile.decode(notification.payload)
        count = len(frame.values)
        step_ns = 1e9 / profile.rate_hz
        arrival = notification.gateway_time_ns
        if frame.device_time_ns is None or self._unwrapper is None:
            first = arrival - int((count - 1) * step_ns)
        else:
            if self._guard.admit(self._unwrapper.peek(frame.device_time_ns), arrival):
                self._restart_timing()
            assert self._unwrapper is not None  # restarted, not removed
            device_first = self._unwrapper.unwrap(frame.device_time_ns)
            device_last = device_first + int((count - 1) * step_ns)
            first = device_first + self._aligner.offset_ns(device_last, arrival)
        times = first + (np.arange(count) * step_ns).astype(np.int64)
        values = frame.values[:, 0] if frame.values.shape[1] == 1 else frame.values
        return _block(
            self.device_id,
            profile.signal,
            times,
            values,
            unit=profile.units,
            rate_hz=profile.rate_hz,
        )
