"""The engine's own contract, without the gateway's adapter: the window clock, routing by
stream, coverage and quality per stream, gaps marked before a stream starts, and trimming."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.streaming import CountStage, Engine, StreamQuality, WindowClock
from dsp.streaming.gaps import GapLog
from tests.reference.sample_buffer import SampleBuffer

NS = 1_000_000_000
T0 = 1_000 * NS


def _block(
    start_s: float, seconds: float, rate: float, channels: int = 1
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    n = int(seconds * rate)
    times = T0 + (start_s * NS + np.arange(n) * (NS / rate)).astype(np.int64)
    values = np.ones((n, channels)) if channels > 1 else np.ones(n)
    return times, values


def test_the_clock_closes_a_window_once_the_watermark_holds_it_back() -> None:
    clock = WindowClock(window_s=60.0, hop_s=10.0, lateness_s=2.0, lookahead_s=6.4)
    assert not clock.may_close(T0)  # no origin yet
    clock.start(T0)
    clock.start(T0 + 5 * NS)  # the first sample of any stream sets it, once
    assert clock.bounds(2) == (T0 + 20 * NS, T0 + 80 * NS)
    assert clock.due(T0 + 68 * NS) is None
    assert clock.due(T0 + 68_400_000_000) == (T0, T0 + 60 * NS)
    clock.closed()
    clock.rearm()
    assert not clock.may_close(T0 + 78 * NS)
    assert clock.may_close(T0 + 78_400_000_000)
    with pytest.raises(ValueError, match="positive"):
        WindowClock(window_s=0.0, hop_s=10.0, lateness_s=0.0, lookahead_s=0.0)


def test_streams_are_routed_once_and_unknown_ones_only_counted() -> None:
    engine = Engine(window_s=30.0, hop_s=30.0, lateness_s=0.0)
    assert engine.add("acc", *_block(0, 100, 25.0, 3), 25.0) is True
    assert engine.add("acc", *_block(100, 21, 25.0, 3), 25.0) is False
    assert engine.add("temp", *_block(0, 15, 1.0), 1.0) is True
    assert engine.add("empty", np.zeros(0, dtype=np.int64), np.zeros(0)) is False
    assert engine.streams == ["acc", "temp"]
    results = engine.finish()
    assert [r.start_ns for r in results] == [T0 + i * 30 * NS for i in range(4)]
    first = results[0]
    assert first.quality["acc"] == StreamQuality(coverage=1.0, gap_share=0.0)
    assert first.quality["temp"].coverage == pytest.approx(15 / 30)
    assert first.quality["temp"].kind == "degraded"
    assert "motion_fraction" in first.readable  # the ACC stage's numbers
    assert first.model_features and all(np.isfinite(v) for v in first.model_features.values())
    assert results[1].quality["temp"].kind == "gap"  # nothing after 15 s


def test_a_gap_marked_before_a_stream_starts_is_its_stages() -> None:
    engine = Engine(window_s=30.0, hop_s=30.0, lateness_s=0.0, stages={}, other=CountStage)
    engine.mark_gap("x", T0 + 10 * NS, T0 + 20 * NS)
    engine.add("x", *_block(0, 61, 10.0), 10.0)
    first, second = engine.finish()
    assert first.quality["x"].gap_share == pytest.approx(1 / 3)
    assert first.quality["x"].kind == "gap"  # present samples or not, a third is a gap
    assert second.quality["x"] == StreamQuality(coverage=1.0, gap_share=0.0)
    with pytest.raises(ValueError, match="end after"):
        engine.mark_gap("x", T0, T0)


def test_stages_forget_what_no_later_window_needs() -> None:
    engine = Engine(window_s=10.0, hop_s=10.0, lateness_s=0.0, stages={}, other=CountStage)
    engine.add("x", *_block(0, 1000, 10.0), 10.0)
    engine.mark_gap("x", T0 + 5 * NS, T0 + 6 * NS)
    assert len(engine.finish()) > 90
    assert engine.gaps["x"].starts.size == 0  # long behind the look-back


def test_the_engine_finds_gaps_in_sample_times_by_the_one_rule() -> None:
    """Steps longer than jump_limit_ns are gaps, found once, as typed values; a step across a
    link loss is a "disconnected" gap however short, and a stream without a rate only has those."""
    engine = Engine(window_s=10.0, hop_s=10.0, lateness_s=0.0, stages={}, other=CountStage)
    times, values = _block(0, 30, 10.0)
    keep = (times < T0 + 12 * NS) | (times >= T0 + 12_600_000_000)  # 0.7 s lost: a gap
    keep &= (times < T0 + 20 * NS) | (times >= T0 + 20_400_000_000)  # 0.5 s: within the rule
    engine.add("x", times[keep], values[keep], 10.0)
    slow = T0 + np.array([0, 2, 4, 9, 11, 13, 29], dtype=np.int64) * NS  # no rate: no jump rule
    engine.add("hr", slow, np.ones(slow.size))
    engine.mark_link_loss("hr", T0 + 10 * NS, T0 + 10 * NS + 5)
    engine.mark_link_loss("x", T0 + 25 * NS, T0 + 25 * NS + 5)  # inside a 0.1 s step
    results = engine.finish()
    found = [g for r in results for g in r.gaps] + engine.take_gaps()
    assert [(g.stream, g.start_ns - T0, g.end_ns - T0, g.reason) for g in found] == [
        ("x", 11_900_000_000, 12_600_000_000, "sample_time_jump"),
        ("hr", 9 * NS, 11 * NS, "disconnected"),
        ("x", 25 * NS, 25_100_000_000, "disconnected"),
    ]
    assert engine.gaps["x"].overlap_ns(T0 + 12 * NS, T0 + 13 * NS) == 600_000_000
    assert engine.take_gaps() == []


def test_a_jump_past_a_windows_end_is_logged_before_it_closes_and_reported_once() -> None:
    """Stages read past a window's end (the ECG's tail, the EDA's alignment) and never scan for
    themselves: the engine scans every sample held before a window closes, and reports a gap
    with the window it ends in, once."""
    engine = Engine(window_s=10.0, hop_s=10.0, lateness_s=0.0, stages={}, other=CountStage)
    times, values = _block(0, 30, 10.0)
    keep = (times < T0 + 21 * NS) | (times >= T0 + 22 * NS)  # 1.1 s lost just past 20 s
    engine.add("x", times[keep], values[keep], 10.0)
    first = engine.advance(T0 + 21 * NS)  # window [0, 10) closes: it alone is due
    assert [r.end_ns - T0 for r in first] == [10 * NS]
    assert engine.gaps["x"].overlap_ns(T0 + 20 * NS, T0 + 23 * NS) == 1_100_000_000
    assert first[0].gaps == ()
    rest = engine.finish()  # [10, 20) closes; [20, 30) is not covered: the gap trails
    assert [(r.end_ns - T0, r.gaps) for r in rest] == [(20 * NS, ())]
    trailing = engine.take_gaps()
    assert [(g.start_ns - T0, g.end_ns - T0) for g in trailing] == [(20_900_000_000, 22 * NS)]
    assert engine.take_gaps() == []


def _on_reference(gaps: GapLog) -> CountStage:
    """A CountStage on the reference SampleBuffer: its gap scan always takes the kernel."""
    return CountStage(gaps, SampleBuffer(1))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), links=st.booleans())
def test_the_scan_skipped_by_the_order_check_finds_what_the_kernel_finds(
    seed: int, links: bool
) -> None:
    """The gap scan skips its kernel when the buffer's order check saw no step over the limit;
    against an engine whose stages never skip it (reference buffers), the same gaps come out
    with the same windows, on jumps of every size, blocks out of order, duplicate times, rows
    trimmed away in a long silence of one stream while another goes on, and link losses."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([0.1, 0.1, 0.1, 0.0, 0.25, 0.31, 0.6, 2.0, 400.0], size=900,
                       p=[0.5, 0.2, 0.1, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01])  # fmt: skip
    times = T0 + np.cumsum((steps * NS).astype(np.int64))
    cuts = np.sort(rng.choice(np.arange(1, times.size), size=80, replace=False))
    blocks = np.split(times, cuts)
    due = [int(block[-1]) for block in blocks]  # arrival order, before some come late
    for i in rng.choice(len(blocks) - 1, size=4, replace=False):
        blocks[i], blocks[i + 1] = blocks[i + 1], blocks[i]
    steady = np.arange(T0, int(times[-1]) + 1, NS, dtype=np.int64)  # "y": 1 Hz, never silent
    arrivals = [(at, "x", block) for at, block in zip(due, blocks, strict=True)]
    arrivals += [(int(steady[i]), "y", steady[i : i + 5]) for i in range(0, steady.size, 5)]
    arrivals.sort(key=lambda item: item[0])
    engines = [
        Engine(window_s=10.0, hop_s=5.0, lateness_s=0.0, stages={}, other=make)
        for make in (CountStage, _on_reference)
    ]
    seen: list[list[object]] = [[], []]
    watermark = 0
    for k, (_, stream, block) in enumerate(arrivals):
        watermark = max(watermark, int(block.max()))
        for engine, out in zip(engines, seen, strict=True):
            engine.add(stream, block, np.ones(block.size), 10.0 if stream == "x" else 1.0)
            if links and k % 17 == 5:
                engine.mark_link_loss(stream, int(block[0]) - 1, int(block[0]))
            out.extend((r.start_ns, r.end_ns, r.gaps, r.quality) for r in engine.advance(watermark))
    for engine, out in zip(engines, seen, strict=True):
        out.extend((r.start_ns, r.end_ns, r.gaps, r.quality) for r in engine.finish())
        out.extend(engine.take_gaps())
    assert seen[0] == seen[1]
    assert any(r[2] for r in seen[0] if isinstance(r, tuple))  # some windows have gaps
