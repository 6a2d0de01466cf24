"""A path of floor points, packed: how central stores it and how tests and tools build one.

A path of ``n`` points is ``8 n`` bytes of little-endian float64 times (seconds
since the track's start) followed by ``8 n`` bytes of little-endian float32
``x, y`` pairs (metres). Times keep the precision of the stream's clock; positions
are good to a millimetre well beyond any store's size. The wire carries the same
two arrays as the proto's ``SummaryColumns.path_t`` and ``path_xy``, whose element
types are these.
"""

from __future__ import annotations

from typing import Final

import numpy as np

TIMES: Final = np.dtype("<f8")
XY: Final = np.dtype("<f4")
POINT_BYTES: Final = TIMES.itemsize + 2 * XY.itemsize


def pack(points: object) -> bytes:
    """``[[t, x, y], ...]`` (any sequence or (N, 3) array) packed."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return array[:, 0].astype(TIMES).tobytes() + array[:, 1:].astype(XY).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    """A packed path as an (N, 3) float64 array of ``[t, x, y]``; ValueError if it is not a whole path."""
    if len(blob) % POINT_BYTES:
        raise ValueError(f"a packed path of {len(blob)} bytes is not a whole number of {POINT_BYTES}-byte points")
    n = len(blob) // POINT_BYTES
    out = np.empty((n, 3))
    out[:, 0] = np.frombuffer(blob, dtype=TIMES, count=n)
    out[:, 1:] = np.frombuffer(blob, dtype=XY, offset=n * TIMES.itemsize).reshape(n, 2)
    return out
