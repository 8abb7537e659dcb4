"""The kernels' binary searches equal np.searchsorted on a sub-range, ties included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.filters import lower_bound_in, upper_bound_in


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=30), st.integers(-7, 7), st.data())
def test_bounds_equal_searchsorted(values: list[int], probe: int, data: st.DataObject) -> None:
    a = np.sort(np.array(values, dtype=np.int64))
    lo = data.draw(st.integers(0, a.size))
    hi = data.draw(st.integers(lo, a.size))
    part = a[lo:hi]
    assert lower_bound_in(a, lo, hi, probe) == lo + np.searchsorted(part, probe, side="left")
    assert upper_bound_in(a, lo, hi, probe) == lo + np.searchsorted(part, probe, side="right")
    floats = a.astype(np.float64)
    assert lower_bound_in(floats, lo, hi, probe + 0.5) == lo + np.searchsorted(part, probe + 0.5)
