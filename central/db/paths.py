"""How ``track_summaries.path`` stores a path: packed by the shared codec (:mod:`retail_common.pathcodec`).

Ingest stores the times and positions as they arrived, without formatting a
number; readers round to milliseconds and millimetres, which is all the precision
a path has.
"""

from __future__ import annotations

import numpy as np

from retail_common import pathcodec

pack = pathcodec.pack
unpack = pathcodec.unpack


def round3(values: np.ndarray) -> np.ndarray:
    """``round(v, 3)`` of every value, exactly as Python rounds it, at array speed.

    ``rint(v * 1000) / 1000`` is what Python's correctly rounded ``round`` gives
    wherever the product's rounding error cannot move it across a half: values
    closer than that to a half (and huge or non-finite ones) are left to Python.
    Positions are float32, whose product by 1000 is exact, so in practice only a
    time of exactly half a millisecond ever takes the slow way.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # inf and NaN go the slow way
        scaled = values * 1000.0
        whole = np.rint(scaled)
        out = whole / 1000.0
        doubt = ~((np.abs(np.abs(scaled - whole) - 0.5) > 1e-5) & (np.abs(scaled) < 2.0**33))
    if doubt.any():
        flat, src = out.reshape(-1), values.reshape(-1)
        for i in np.flatnonzero(doubt.reshape(-1)).tolist():
            flat[i] = round(float(src[i]), 3)
    return out


def readable(blob: bytes) -> list[list[float]]:
    """The stored path as ``[[t, x, y], ...]`` in milliseconds and millimetres, as the API shows it."""
    return round3(unpack(blob)).tolist()  # type: ignore[no-any-return]
