"""Motion from where the model's was measured: a chest strap's accelerometer never stands in for
the wrist's.

Every bundled stress model was validated on wrist motion (WESAD's E4). A chest strap moves with
the trunk only, so before this rule the demo's default model was fed the H10's motion as if it
were a wrist's, and with a wrist band and a strap both sending ``acc`` which one the model read
depended on which connected first. Now a device on the wrist takes the motion stream over at
once, and a window whose motion came from elsewhere (or from a device that does not say where
it sits) is refused as ``poor_signal`` with the reason said once.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ingest.decoding import SampleBlock
from stream.events import StressScore
from vagus.config import WindowSettings
from vagus.pipeline import ClosedWindow, FeaturePipeline

NS = 1_000_000_000
START = 10**18
CHEST, WRIST = "d-chest001", "d-wrist002"
SITES: dict[str, str | None] = {CHEST: "chest", WRIST: "wrist"}
EDA = "d-eda00003"


def _acc(device: str, second: int, site: str | None, rng: np.random.Generator) -> SampleBlock:
    """One second of accelerometer (mg): the chest at 25 Hz and nearly still, the wrist at 32 Hz
    and moving, so the two are told apart by their numbers."""
    rate, sd = (25, 5.0) if device == CHEST else (32, 80.0)
    times = START + second * NS + np.arange(rate, dtype=np.int64) * (NS // rate)
    values = np.tile([30.0, -985.0, 160.0], (rate, 1)) + rng.normal(0.0, sd, (rate, 3))
    return SampleBlock(device, "acc", times, values, "mG", float(rate), site)


def _eda(second: int) -> SampleBlock:
    times = START + second * NS + np.arange(4, dtype=np.int64) * (NS // 4)
    values = 4.0 + 0.3 * np.sin(2 * np.pi * (second + np.arange(4) / 4) / 90.0)
    return SampleBlock(EDA, "eda", times, values, "uS", 4.0, "wrist")


def _run(
    seconds: dict[str, range], sites: dict[str, str | None] = SITES, *, eda: bool = False
) -> tuple[FeaturePipeline, list[ClosedWindow]]:
    pipeline = FeaturePipeline(
        patient_id="p-7k3m9q2x4v8w", producer_id="t", windows=WindowSettings()
    )
    rngs = {CHEST: np.random.default_rng(1), WRIST: np.random.default_rng(2)}
    closed: list[ClosedWindow] = []
    for second in range(max(max(r) for r in seconds.values()) + 1):
        for device in (CHEST, WRIST):
            if second in seconds.get(device, range(0)):
                pipeline.add(_acc(device, second, sites[device], rngs[device]))
        if eda:
            pipeline.add(_eda(second))
        closed += pipeline.advance(START + (second + 1) * NS)
    return pipeline, closed + pipeline.finish()


def _activity(closed: list[ClosedWindow]) -> dict[int, float | None]:
    return {
        (w.window.window_end_ns - START) // NS: w.window.features.activity_enmo_g for w in closed
    }


def _qualities(closed: list[ClosedWindow]) -> set[str]:
    return {e.quality for w in closed for e in w.events if isinstance(e, StressScore)}


def test_the_wrist_takes_motion_over_at_once_from_a_strap_that_started_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrist_alone = _activity(_run({WRIST: range(30, 300)})[1])
    with caplog.at_level(logging.INFO, logger="vagus.pipeline"):
        pipeline, both = _run({CHEST: range(300), WRIST: range(30, 300)})
    # The wrist feeds from its first sample after the strap's last: the window the takeover
    # falls in holds the strap's second before it; every window after is the wrist's alone.
    after = {end: v for end, v in _activity(both).items() if end >= 100}
    assert after == {end: wrist_alone[end] for end in after} and len(after) >= 20
    assert pipeline.kept_out == {("acc", CHEST): 300 - 31}  # seconds 0-30 fed, before the wrist
    said = [r for r in caplog.records if CHEST in r.getMessage()]
    assert any("passes from" in r.getMessage() for r in said)
    kept = [r for r in said if "kept out" in r.getMessage()]
    # the expected case of a strap beside a wrist band: said once, and not as a warning
    assert len(kept) == 1 and kept[0].levelno == logging.INFO and "wrist" in kept[0].getMessage()


def test_a_strap_never_takes_motion_from_the_wrist_while_it_sends() -> None:
    wrist_alone = _activity(_run({WRIST: range(300)})[1])
    pipeline, both = _run({WRIST: range(300), CHEST: range(1, 300)})
    assert _activity(both) == wrist_alone
    assert pipeline.kept_out == {("acc", CHEST): 299}


def test_two_devices_without_the_wanted_site_keep_the_first_come_rule() -> None:
    sites: dict[str, str | None] = {CHEST: "chest", WRIST: None}
    pipeline, _ = _run({CHEST: range(120), WRIST: range(120)}, sites)
    assert pipeline.kept_out == {("acc", WRIST): 120}


@pytest.mark.parametrize(
    ("site", "said"),
    [("chest", "motion measured at chest"), (None, "a site its device does not declare")],
)
def test_motion_from_another_or_an_undeclared_site_is_refused_with_the_reason_once(
    caplog: pytest.LogCaptureFixture, site: str | None, said: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="vagus.scoring"):
        _, closed = _run({CHEST: range(240)}, {CHEST: site, WRIST: "wrist"}, eda=True)
    assert _qualities(closed) == {"poor_signal"}
    reasons = [
        r.getMessage() for r in caplog.records if "validated on wrist motion" in r.getMessage()
    ]
    assert len(reasons) == 1 and said in reasons[0]


def test_wrist_motion_is_taken_into_the_calibration() -> None:
    _, closed = _run({WRIST: range(240)}, eda=True)
    assert _qualities(closed) == {"calibrating"}
