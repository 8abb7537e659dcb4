"""Sleep from actigraphy and beats: sleep/wake per minute (Cole-Kripke, Sadeh), sleep periods
(Tudor-Locke), and resting heart rate and nocturnal HRV over the asleep epochs."""

from dsp.sleep.nocturnal import NocturnalHrv, nocturnal_hrv
from dsp.sleep.periods import SleepPeriod, tudor_locke_periods
from dsp.sleep.sleep_wake import (
    ACTIGRAPH_AXIS1,
    SCORED_EPOCH_S,
    CountScale,
    cole_kripke,
    cole_kripke_index,
    minute_counts,
    sadeh,
    sadeh_index,
)

__all__ = [
    "ACTIGRAPH_AXIS1",
    "SCORED_EPOCH_S",
    "CountScale",
    "NocturnalHrv",
    "SleepPeriod",
    "cole_kripke",
    "cole_kripke_index",
    "minute_counts",
    "nocturnal_hrv",
    "sadeh",
    "sadeh_index",
    "tudor_locke_periods",
]
