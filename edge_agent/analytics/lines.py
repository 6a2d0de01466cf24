"""Counting lines: in/out per crossing, counted once, robust to a track wobbling on the line.

A track's side of the line only changes once its feet are more than
``hysteresis_px`` past the line, so jitter around the line never counts; a
crossing counts only where it passes between the line's end points. Looking from
``start`` to ``end``, crossing from the right-hand side to the left-hand side is
"in", the other way "out" (in image coordinates, where y points down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edge_agent.config.models import LineConfig

Direction = Literal["in", "out"]


@dataclass(frozen=True)
class Crossing:
    line_id: str
    track_id: int
    t: float
    direction: Direction


@dataclass
class LineMonitor:
    line: LineConfig
    _side: dict[int, int] = field(default_factory=dict, init=False)  # +1 right, -1 left

    def __post_init__(self) -> None:
        self._a = np.asarray(self.line.start, dtype=np.float64)
        d = np.asarray(self.line.end, dtype=np.float64) - self._a
        self._len = float(np.hypot(*d))
        self._dir = d / self._len

    def signed_distance(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance from the line (> 0 on the right-hand side) and position along it (0 at start, 1 at end)."""
        rel = np.asarray(points, dtype=np.float64).reshape(-1, 2) - self._a
        dist = self._dir[0] * rel[:, 1] - self._dir[1] * rel[:, 0]
        along = (rel @ self._dir) / self._len
        return dist, along

    def update(self, t: float, track_ids: Sequence[int], feet_px: np.ndarray) -> list[Crossing]:
        if not len(track_ids):
            return []
        dist, along = self.signed_distance(feet_px)
        h = self.line.hysteresis_px
        out: list[Crossing] = []
        for tid, d, a in zip(track_ids, dist, along, strict=True):
            side = 1 if d > h else -1 if d < -h else 0
            if side == 0:
                continue
            prev = self._side.get(tid)
            self._side[tid] = side
            if prev is None or prev == side or not (0.0 <= a <= 1.0):
                continue
            out.append(Crossing(self.line.id, tid, t, "in" if prev > 0 else "out"))
        return out

    def forget(self, track_id: int) -> None:
        self._side.pop(track_id, None)
