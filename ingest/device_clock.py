"""A device's clock against the gateway's: offset, wrapping counters, corrupt timestamps, and
beat times rebuilt from RR intervals.

Kept apart from the device kinds because every timestamped kind (Polar PMD, declarative sample
streams) needs the same three things: an offset that follows the smallest transport delay, a
counter that keeps counting past its wrap, and a guard so that one corrupt timestamp can neither
poison the offset nor move a stream's time by years. Kinds without device timestamps (Heart Rate
RR intervals) align a clock of their own making the same way (:class:`BeatTimeReconstructor`).
"""

from __future__ import annotations

from collections import deque

from ingest.errors import DecodeError

_RR_REANCHOR_NS = 2_000_000_000
MAX_OFFSET_STEP_DOWN_NS = 2_000_000
"""A device's clock offset may fall by at most 2 ms per frame: under the sample period of every
stream we decode (Polar ECG 7.7 ms, ACC at 200 Hz 5 ms), so frames never overlap; a 50 ms
improvement in the delay estimate is absorbed over 25 frames (about 14 s of ECG)."""


class ClockAligner:
    """Maps a device clock onto the gateway clock.

    The offset is the smallest (arrival - device time) over recent frames: transport delay only
    ever adds, so the minimum is the best estimate of the true offset, and a sliding horizon lets
    it follow a drifting device clock.
    """

    def __init__(self, horizon: int = 100, *, max_step_down_ns: int | None = None) -> None:
        """``max_step_down_ns`` slews a falling offset (a newly seen smaller delay) by at most
        that much per frame, so consecutive frames never overlap in time; rises apply at once."""
        self._candidates: deque[int] = deque(maxlen=horizon)
        self._max_step_down_ns = max_step_down_ns
        self._current: int | None = None

    def offset_ns(self, device_ns: int, arrival_ns: int) -> int:
        self._candidates.append(arrival_ns - device_ns)
        offset = min(self._candidates)
        if self._max_step_down_ns is not None and self._current is not None:
            offset = max(offset, self._current - self._max_step_down_ns)
        self._current = offset
        return offset


class CounterUnwrapper:
    """Extends a wrapping device counter (u32 milliseconds wraps every 49.7 days)."""

    def __init__(self, period_ns: int) -> None:
        self._period = period_ns
        self._base = 0
        self._last: int | None = None

    def peek(self, value_ns: int) -> int:
        """What :meth:`unwrap` would return, without taking the value in."""
        if self._last is not None and value_ns < self._last - self._period // 2:
            return self._base + self._period + value_ns
        return self._base + value_ns

    def unwrap(self, value_ns: int) -> int:
        unwrapped = self.peek(value_ns)
        self._base = unwrapped - value_ns
        self._last = value_ns
        return unwrapped


MAX_DEVICE_NS = 1 << 62
"""Device times beyond this (year 2116 as Unix ns) are corrupt, and would overflow int64 times."""


class DeviceClockGuard:
    """Admits a frame only if its device time advanced about as much as the gateway's clock.

    Since the last admitted frame, device time and arrival time must agree within
    ``tolerance_ns`` (a minute by default: far beyond BLE buffering, far below a corrupt field).
    A disagreeing frame is a :class:`DecodeError` and changes no state; ``reanchor_after``
    disagreeing frames in a row mean the device clock really moved (set at connect, reset), and
    the caller is told to start its timing afresh.
    """

    def __init__(self, tolerance_ns: int = 60 * 10**9, reanchor_after: int = 5) -> None:
        self._tolerance_ns = tolerance_ns
        self._reanchor_after = reanchor_after
        self._anchor: tuple[int, int] | None = None
        self._rejected = 0

    def admit(self, device_ns: int, arrival_ns: int) -> bool:
        """True when the caller must reset its timing state (a re-anchor); raises when refused."""
        if not 0 <= device_ns < MAX_DEVICE_NS:
            raise DecodeError(f"device timestamp {device_ns} ns is out of any plausible range")
        reanchored = False
        if self._anchor is not None:
            last_device, last_arrival = self._anchor
            disagreement = (device_ns - last_device) - (arrival_ns - last_arrival)
            if abs(disagreement) > self._tolerance_ns:
                self._rejected += 1
                if self._rejected < self._reanchor_after:
                    raise DecodeError(
                        f"device timestamp moved {disagreement / 1e9:+.1f} s against the "
                        "gateway clock since the last good frame"
                    )
                reanchored = True
        self._anchor = (device_ns, arrival_ns)
        self._rejected = 0
        return reanchored


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
