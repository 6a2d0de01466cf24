"""A camera's heatmap over a range: its daily grids in ``heatmap_daily``, summed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from central.api.queries.columns import bounds
from central.api.timerange import Bucket, TimeRange
from central.db.schema import heatmap_daily


@dataclass(frozen=True)
class HeatmapGrid:
    cells: np.ndarray[Any, np.dtype[np.float32]]  # rows x cols person-seconds
    days: int
    days_skipped: int


def heatmap_grid(conn: Connection, store_id: str, camera_id: str, rng: TimeRange) -> HeatmapGrid | None:
    """The camera's daily grids over the range, summed; grids of another shape than the latest day's are skipped."""
    t = heatmap_daily.c
    lo, hi = bounds(rng, Bucket.DAY)
    rows = conn.execute(
        select(t.rows, t.cols, t.cells)
        .where(t.store_id == store_id, t.camera_id == camera_id, t.day >= lo, t.day < hi)
        .order_by(t.day.desc())
    ).all()
    total: np.ndarray[Any, np.dtype[np.float32]] | None = None
    days = skipped = 0
    for row in rows:
        shape = (int(row.rows), int(row.cols))
        blob = bytes(row.cells)
        if len(blob) != shape[0] * shape[1] * 4 or (total is not None and total.shape != shape):
            skipped += 1
            continue
        grid = np.frombuffer(blob, dtype="<f4").reshape(shape)
        total = grid.astype(np.float32) if total is None else total + grid
        days += 1
    if total is None:
        return None
    total = np.nan_to_num(total, nan=0.0, posinf=0.0, neginf=0.0)
    return HeatmapGrid(total, days, skipped)
