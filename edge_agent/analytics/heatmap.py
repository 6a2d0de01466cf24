"""Occupancy heatmaps: person-seconds per grid cell over a camera's image, per time bucket."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_agent.analytics.buckets import bucket_start
from retail_common.summary import HeatmapTile

# A frame stands for at most this long: after a stall or a dropped stretch the
# people seen are not assumed to have stood still for the whole gap.
MAX_FRAME_WEIGHT_S = 1.0


@dataclass
class HeatmapAccumulator:
    store_id: str
    camera_id: str
    width: int
    height: int
    rows: int
    cols: int
    bucket_seconds: int
    _grids: dict[float, np.ndarray] = field(default_factory=dict, init=False)
    _last_t: float | None = field(default=None, init=False)

    def add(self, t: float, feet_px: np.ndarray) -> None:
        """One frame at Unix time ``t`` with the feet of everyone tracked in it."""
        dt = 0.0 if self._last_t is None else min(max(t - self._last_t, 0.0), MAX_FRAME_WEIGHT_S)
        self._last_t = t
        pts = np.asarray(feet_px, dtype=np.float64).reshape(-1, 2)
        if dt == 0.0 or not len(pts):
            return
        grid = self._grids.setdefault(
            bucket_start(t, self.bucket_seconds), np.zeros((self.rows, self.cols), dtype=np.float64)
        )
        c = np.clip((pts[:, 0] / self.width * self.cols).astype(int), 0, self.cols - 1)
        r = np.clip((pts[:, 1] / self.height * self.rows).astype(int), 0, self.rows - 1)
        np.add.at(grid, (r, c), dt)

    def total(self) -> np.ndarray:
        out = np.zeros((self.rows, self.cols), dtype=np.float64)
        for grid in self._grids.values():
            out += grid
        return out

    def take_closed(self, now: float) -> list[HeatmapTile]:
        """Tiles of the buckets that ended by ``now``, forgotten here (a long-running agent flushes them)."""
        closed = [b for b in self._grids if b + self.bucket_seconds <= now]
        tiles = [t for t in self.tiles() if t.bucket_start in closed]
        for bucket in closed:
            del self._grids[bucket]
        return tiles

    def tiles(self) -> list[HeatmapTile]:
        return [
            HeatmapTile(
                self.store_id,
                self.camera_id,
                bucket,
                self.bucket_seconds,
                self.rows,
                self.cols,
                tuple(float(v) for v in grid.ravel()),
            )
            for bucket, grid in sorted(self._grids.items())
        ]
