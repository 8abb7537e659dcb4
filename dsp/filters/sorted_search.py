"""Binary searches over a sorted stretch of an array, for kernels (numba has searchsorted, but
not over a sub-range without a slice, and not with the bounds the callers keep).

One pair for every user: the gateway's buffers and window paths search sample and beat times
(int64), L-T's rolling quartiles a sorted window of floats.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

Sorted = npt.NDArray[np.int64] | npt.NDArray[np.float64]


@numba.njit(cache=True)
def lower_bound_in(a: Sorted, lo: int, hi: int, value: float) -> int:
    """np.searchsorted(a[lo:hi], value, side="left") + lo, of sorted a[lo:hi]."""
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def upper_bound_in(a: Sorted, lo: int, hi: int, value: float) -> int:
    """np.searchsorted(a[lo:hi], value, side="right") + lo, of sorted a[lo:hi]."""
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    return lo
