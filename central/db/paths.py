"""How ``track_summaries.path`` stores a path: the proto's packed form, as the agent sent it.

A path of ``n`` points is ``8 n`` bytes of little-endian float64 times (seconds
since the track's start) followed by ``8 n`` bytes of little-endian float32
``x, y`` pairs (metres): ``TrackSummary.path_t + TrackSummary.path_xy``. Ingest
stores what arrived without formatting a number; readers round to milliseconds
and millimetres, which is all the precision a path has.
"""

from __future__ import annotations

import numpy as np

from edge_agent.sync.convert import PATH_TIMES, PATH_XY, pack_path

TIMES, XY = PATH_TIMES, PATH_XY  # the proto's packed layout is the stored one
POINT_BYTES = TIMES.itemsize + 2 * XY.itemsize


def pack(points: np.ndarray) -> bytes:
    """An (N, 3) array of ``[t, x, y]`` as stored."""
    return b"".join(pack_path(points))


def unpack(blob: bytes) -> np.ndarray:
    """The stored path as an (N, 3) float64 array of ``[t, x, y]``; ValueError if it is not a whole path."""
    if len(blob) % POINT_BYTES:
        raise ValueError(f"a stored path of {len(blob)} bytes is not a whole number of {POINT_BYTES}-byte points")
    n = len(blob) // POINT_BYTES
    out = np.empty((n, 3))
    out[:, 0] = np.frombuffer(blob, dtype=TIMES, count=n)
    out[:, 1:] = np.frombuffer(blob, dtype=XY, offset=n * TIMES.itemsize).reshape(n, 2)
    return out


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
