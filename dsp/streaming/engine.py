"""The streaming engine: samples of any number of streams in, one WindowResult per closed window.

It owns a WindowClock and one stage per stream (dsp.streaming.stages: chosen once, by the
stream's name, from STAGES), routes each block to its stage, closes the windows a watermark
makes due, and every TRIM_EVERY windows lets the stages forget what no later window needs. A
result is plain data: readable numbers, the model's features, and per stream the coverage, the
share of the window gaps cover and the signal-quality kind judged from both. It knows nothing
of events: the gateway's adapter (vagus.pipeline) turns results into events, scores and
episodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from dsp.streaming.beat_kernels import jump_steps_kernel
from dsp.streaming.clock import WindowClock
from dsp.streaming.gaps import Gap, GapLog, GapReason, jump_limit_ns
from dsp.streaming.readable import Readable
from dsp.streaming.stages import (
    HISTORY_S,
    LOOKAHEAD_S,
    NS,
    STAGES,
    CountStage,
    Stage,
    StageWindow,
)
from dsp.stress import QualityInputs

#: Stages forget old samples every this many windows, not every window: windows are cut by
#: time, so what they hold beyond the look-back changes no result, and trimming was a
#: twentieth of a window's cost.
TRIM_EVERY = 6
#: A window whose stream a marked or detected gap covers by more than this share is a "gap".
GAP_SHARE_LIMIT = 0.1
#: Coverage from which a stream is "ok", and below which it is a "gap" ("degraded" between).
OK_COVERAGE, GAP_COVERAGE = 0.9, 0.1

QualityKind = Literal["ok", "degraded", "gap"]
_NO_STEPS = np.zeros(0, dtype=np.int64)
_NO_SAMPLE = -(2**63)
StageFactory = Callable[[GapLog], Stage]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StreamQuality:
    """How well one stream filled one window."""

    #: share of the window's nominal samples present (at most 1)
    coverage: float
    #: share of the window that marked or detected gaps cover
    gap_share: float

    @property
    def kind(self) -> QualityKind:
        if self.gap_share > GAP_SHARE_LIMIT:
            return "gap"
        if self.coverage >= OK_COVERAGE:
            return "ok"
        return "degraded" if self.coverage >= GAP_COVERAGE else "gap"


@dataclass(frozen=True, slots=True)
class WindowResult:
    """Everything the engine found in one window [start_ns, end_ns)."""

    start_ns: int
    end_ns: int
    #: readable numbers (stream.events.Features' field names)
    readable: Readable
    #: the stress model's inputs the window defines (finite values only)
    model_features: dict[str, float]
    #: per stream with a known rate, in the order streams started
    quality: dict[str, StreamQuality]
    #: the RR share the score gate judges by (dsp.streaming.rr)
    rr_gate_fraction: float | None = None
    #: gaps found in the sample times up to the window's end since the last window
    gaps: tuple[Gap, ...] = ()
    #: the stream the heart numbers came from (the best-ranked beat source), if any
    heart_source: str | None = None
    #: what that stream's beats were measured on ("ecg" or "pulse"; its stage's BEAT_KIND)
    beat_kind: str | None = None

    @property
    def coverage(self) -> dict[str, float]:
        return {stream: q.coverage for stream, q in self.quality.items()}

    @property
    def score_inputs(self) -> QualityInputs:
        return QualityInputs(
            beats=int(self.readable.get("beats") or 0),
            rr_artifact_fraction=self.rr_gate_fraction,
            motion_fraction=self.readable.get("motion_fraction"),
            heart_source=self.heart_source,
            beat_kind=self.beat_kind,
        )


class Engine:
    """One patient's streams, windows and carried signal state."""

    def __init__(
        self,
        *,
        window_s: float,
        hop_s: float,
        lateness_s: float,
        stages: Mapping[str, StageFactory] = STAGES,
        other: StageFactory = CountStage,
        features: Collection[str] | None = None,
    ) -> None:
        """``stages`` and ``other`` choose a stream's stage (tests pass reference stages).
        ``features``: the model features the windows need (None: every one); a stage may skip
        the work of the others, which are then absent from ``model_features``."""
        self.clock = WindowClock(
            window_s=window_s, hop_s=hop_s, lateness_s=lateness_s, lookahead_s=LOOKAHEAD_S
        )
        self._factories = stages
        self._other = other
        self._features = None if features is None else frozenset(features)
        self._stages: dict[str, Stage] = {}
        #: per stream: (its stage's hold, the stage): one lookup per notification
        self._holds: dict[str, tuple[Callable[[IntArray, FloatArray], None], Stage]] = {}
        #: jump_limit_ns per rate, worked out once
        self._limits: dict[float, float] = {}
        self._gaps: dict[str, GapLog] = {}
        self._links: dict[str, GapLog] = {}  # link losses, per stream they cut
        #: per stream: (scanned up to, the last sample time scanned or _NO_SAMPLE)
        self._scanned: dict[str, tuple[int, int]] = {}
        self._trailing: list[Gap] = []
        #: gaps found in samples past the last closed window's end, for the window they end in
        self._held: dict[str, list[Gap]] = {}

    @property
    def origin_ns(self) -> int | None:
        """The first sample's time: window 0 starts here."""
        return self.clock.origin_ns

    @property
    def streams(self) -> list[str]:
        return list(self._stages)

    @property
    def gaps(self) -> Mapping[str, GapLog]:
        """The gaps, marked or detected, of every stream started or marked."""
        return self._gaps

    def add(
        self,
        stream: str,
        times_ns: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        rate_hz: float | None = None,
    ) -> bool:
        """Hold one block of ``stream``'s samples (its rate when the source knows it); True when
        this block started the stream. Kept lean: it runs once per notification, so a known
        stream costs one dict lookup and the stage's hold, its buffer's extend (an empty block
        is held as nothing)."""
        held = self._holds.get(stream)
        if held is None:
            return self._open(stream, times_ns, values, rate_hz)
        hold, stage = held
        hold(times_ns, values)
        if rate_hz:
            stage.rate_hz = rate_hz
        return False

    def _open(
        self, stream: str, times_ns: IntArray, values: FloatArray, rate_hz: float | None
    ) -> bool:
        """A stream's first block: its stage, made by the stream's name."""
        if len(times_ns) == 0:
            return False
        self.clock.start(int(times_ns[0]))
        make = self._factories.get(stream, self._other)
        stage = self._stages[stream] = make(self._gap_log(stream))
        if self._features is not None:
            stage.want(self._features)
        self._holds[stream] = (stage.hold, stage)
        stage.add(times_ns, values)
        if rate_hz:
            stage.rate_hz = rate_hz
        return True

    def _gap_log(self, stream: str) -> GapLog:
        return self._gaps.setdefault(stream, GapLog())

    def mark_gap(self, stream: str, start_ns: int, end_ns: int) -> None:
        """Data of ``stream`` is missing in [start_ns, end_ns]: no beat interval, RR or EDA
        filter spans it, and a window it covers by more than GAP_SHARE_LIMIT is a "gap"."""
        if end_ns <= start_ns:
            raise ValueError(f"a gap must end after it starts ({start_ns} >= {end_ns})")
        stage = self._stages.get(stream)
        if stage is None:  # held for the stage the stream's first block makes
            self._gap_log(stream).add(start_ns, end_ns)
        else:
            stage.mark_gap(start_ns, end_ns)

    def mark_link_loss(self, stream: str, start_ns: int, end_ns: int) -> None:
        """The link that carries ``stream`` was down in [start_ns, end_ns]: a marked gap, and
        the step from the last sample at or before ``start_ns`` to the next is a
        ``disconnected`` gap, however short."""
        self.mark_gap(stream, start_ns, end_ns)
        self._links.setdefault(stream, GapLog()).add(start_ns, end_ns)

    def take_gaps(self) -> list[Gap]:
        """Gaps found by finish after the last window (each window carries its own)."""
        found, self._trailing = self._trailing, []
        return found

    def _gaps_until(self, stream: str, stage: Stage, end_ns: int | None) -> list[Gap]:
        """Scan every sample the stage holds (its ECG and EDA read past a window's end, and no
        stage scans for itself: the log is complete before the stage closes), and return the
        gaps that end before ``end_ns`` (all of them when None); the rest wait for the window
        they end in, so each window reports what it reported when scans stopped at its end."""
        latest, longest = stage.latest_step()
        held = self._held.get(stream)
        if latest is not None:
            rate = stage.rate_hz
            if rate and longest <= self._limit(rate) and stream not in self._links:
                # the usual case: the buffer's order check saw every new step, none a gap
                self._scanned[stream] = (latest + 1, latest)
            elif found := self._find_gaps(stream, stage, latest):
                held = held + found if held else found
        if not held:
            return []
        due = [gap for gap in held if end_ns is None or gap.end_ns < end_ns]
        self._held[stream] = [gap for gap in held if gap not in due]
        return due

    def _limit(self, rate: float) -> float:
        """jump_limit_ns(rate), worked out once per rate."""
        limit = self._limits.get(rate)
        if limit is None:
            limit = self._limits[rate] = jump_limit_ns(rate)
        return limit

    def _find_gaps(self, stream: str, stage: Stage, latest: int) -> list[Gap]:
        """The one gap rule (dsp.streaming.gaps) on the samples held and not yet scanned (the
        latest at ``latest``), and on the step from the last one scanned: a step longer than
        the rate's limit, or the step in which a link went down, is a gap; it is marked, and
        returned. _gaps_until skips the call when the buffer's order check saw no such step."""
        until_ns = latest + 1
        scanned, last = self._scanned.get(stream, (_NO_SAMPLE, _NO_SAMPLE))
        links = self._links.get(stream)
        rate = stage.rate_hz
        if rate and links is None:  # one kernel call
            pairs, newest = stage.jumps(scanned, until_ns, last, self._limit(rate))
            self._scanned[stream] = (until_ns, newest)
            if not pairs.size:
                return []
            found = []
            for start, end in pairs.reshape(-1, 2).tolist():
                stage.mark_gap(start, end)
                found.append(Gap(stream, start, end, "sample_time_jump"))
            return found
        times = stage.sample_times(scanned, until_ns)
        if times.size == 0:
            return []
        self._scanned[stream] = (until_ns, int(times[-1]))
        if last != _NO_SAMPLE:
            times = np.concatenate((np.array([last], dtype=np.int64), times))
        steps = _NO_STEPS  # no rate, no jump rule: a stream without one has link losses only
        if stage.rate_hz:
            steps = jump_steps_kernel(times, self._limit(stage.rate_hz))
        cut: set[int] = set()
        if links is not None and links.starts.size:
            # the step from the last sample at or before the link went down to the next one
            at = np.searchsorted(times, links.starts, side="right") - 1
            cut = {int(i) for i in at[(at >= 0) & (at < times.size - 1)]}
            steps = np.union1d(steps, np.fromiter(cut, dtype=np.int64, count=len(cut)))
        found = []
        for i in steps.tolist():
            start, end = int(times[i]), int(times[i + 1])
            if end > start:
                stage.mark_gap(start, end)
                reason: GapReason = "disconnected" if i in cut else "sample_time_jump"
                found.append(Gap(stream, start, end, reason))
        return found

    def advance(self, watermark_ns: int) -> list[WindowResult]:
        """Close every window that ends before ``watermark_ns - lateness - look-ahead``."""
        clock = self.clock
        # most calls (one per notification) stop here: one comparison, no call (clock.may_close)
        if watermark_ns < clock.not_before_ns or clock.origin_ns is None:
            return []
        results = []
        while (window := clock.due(watermark_ns)) is not None:
            results.append(self._close(*window))
            clock.closed()
            if clock.next_index % TRIM_EVERY == 0:
                self._trim()
        clock.rearm()
        return results

    def finish(self) -> list[WindowResult]:
        """Close the windows the data covers, once the source has ended."""
        latest = max((s.latest_ns or 0 for s in self._stages.values()), default=0)
        results = self.advance(latest + self.clock.hold_ns + 1)
        for stream, stage in self._stages.items():
            self._trailing += self._gaps_until(stream, stage, None)
        return results

    def _trim(self) -> None:
        """Keep the look-back the next window needs (the longer of the window and HISTORY_S)."""
        next_start, next_end = self.clock.bounds(self.clock.next_index)
        keep_from = min(next_start, next_end - int(HISTORY_S * NS))
        for stage in self._stages.values():
            stage.trim(keep_from)
        for stream, log in self._gaps.items():
            if stream not in self._stages:
                log.trim(keep_from)
        for log in self._links.values():
            log.trim(keep_from)

    def _close(self, start: int, end: int) -> WindowResult:
        readable: Readable = {}
        model: dict[str, float] = {}
        quality: dict[str, StreamQuality] = {}
        gate = None
        gaps: list[Gap] = []
        span = end - start
        heart: StageWindow | None = None  # the best-ranked beat source with heart data
        heart_rank = -1
        heart_source = beat_kind = None
        for stream, stage in self._stages.items():
            if due := self._gaps_until(stream, stage, end):
                gaps += due
            part = stage.close(start, end)
            if part.rr_gate_fraction is None:
                readable |= part.readable
                model |= part.model
            elif (rank := getattr(stage, "HEART_RANK", 0)) > heart_rank:
                heart, heart_rank, heart_source = part, rank, stream
                beat_kind = getattr(stage, "BEAT_KIND", None)
            if rate := stage.rate_hz:
                coverage = min(1.0, part.present / (rate * span / NS))
                log = stage.gaps
                gap_share = log.overlap_ns(start, end) / span if log.starts.size else 0.0
                quality[stream] = StreamQuality(coverage, gap_share)
        if heart is not None:  # one source's heart numbers, never a mix of two
            readable |= heart.readable
            model |= heart.model
            gate = heart.rr_gate_fraction
        isfinite = math.isfinite
        finite = {name: v for name, v in model.items() if isfinite(v)}
        return WindowResult(
            start, end, readable, finite, quality, gate, tuple(gaps), heart_source, beat_kind
        )
