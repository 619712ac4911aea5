"""Array helpers the engine shares where NumPy's own is slow on city-sized inputs."""

from __future__ import annotations

import numpy as np


def unique_ints(values: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, sorted: ``np.unique(values)``, by one sort.

    From NumPy 2.3 a plain ``np.unique`` of integers goes through a hash table; on the
    wide-ranged int64 keys the engine builds (node × target, facility × resident) it was
    measured 40–70 times slower than sorting (NumPy 2.4.6, 2 million keys: 3.3 s against
    0.05 s), which made the pairs within reach of the 1M-node city several seconds longer.
    Other dtypes go to ``np.unique``.
    """
    a = np.asarray(values).ravel()
    if a.dtype.kind not in "iub":
        return np.unique(a)
    a = np.sort(a)
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]
