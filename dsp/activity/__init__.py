"""Movement from a tri-axial accelerometer in g: ENMO (what the live pipeline summarises) and
ActiGraph-like activity counts (what sleep/wake scoring and published cut-points are defined on)."""

from dsp.activity.movement import (
    ActivitySummary,
    actigraph_counts,
    activity_summary,
    enmo_g,
    vector_magnitude,
)

__all__ = ["ActivitySummary", "actigraph_counts", "activity_summary", "enmo_g", "vector_magnitude"]
